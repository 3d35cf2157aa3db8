//! `NOMAD_UPSTREAM_*` written into the application tasks' `env`, as the Nomad client sets
//! them (client/taskenv/env.go `buildUpstreamsEnv`): the job then documents what the app gets.

use rigging_nomad_jobspec::{Block, Value};

/// The address every upstream listens on in the group's namespace, whatever
/// `local_bind_address` says (FORMATS.md 1.4 step 6).
const UPSTREAM_IP: &str = "127.0.0.1";

/// The variables for upstream `name` bound on `port`: `ADDR`, `IP`, `PORT`, under the raw
/// name and, when it differs, the name Nomad's `CleanEnvVar` makes of it.
pub(crate) fn upstream_vars(name: &str, port: i64) -> Vec<(String, String)> {
    let clean = clean_env_var(name);
    let mut names = vec![name.to_owned()];
    if clean != name {
        names.push(clean);
    }
    let mut out = Vec::new();
    for n in names {
        out.push((
            format!("NOMAD_UPSTREAM_ADDR_{n}"),
            format!("{UPSTREAM_IP}:{port}"),
        ));
        out.push((format!("NOMAD_UPSTREAM_IP_{n}"), UPSTREAM_IP.to_owned()));
        out.push((format!("NOMAD_UPSTREAM_PORT_{n}"), port.to_string()));
    }
    out
}

/// Nomad's `helper.CleanEnvVar(s, '_')`: letters, `_`, `.` and (not first) digits stay;
/// everything else becomes `_`.
pub(crate) fn clean_env_var(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| match c {
            '_' | '.' | 'a'..='z' | 'A'..='Z' => c,
            '0'..='9' if i > 0 => c,
            _ => '_',
        })
        .collect()
}

/// Adds each `(key, value)` to the task's `env` unless the key is already set there (block
/// form or `env = {…}` attribute form). Nothing is created when `vars` is empty.
pub(crate) fn add_missing(task: &mut Block, vars: &[(String, String)]) {
    if vars.is_empty() {
        return;
    }
    if let Some(attr) = task.attr_mut("env")
        && let Value::Object(entries) = &mut attr.value
    {
        for (k, v) in vars {
            if !entries.iter().any(|(key, _)| key == k) {
                entries.push((k.clone(), Value::from(v.as_str())));
            }
        }
        return;
    }
    let env = task.block_or_insert("env");
    for (k, v) in vars {
        if env.attr(k).is_none() {
            env.set(k, v.as_str());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spellings_with_loopback_ip() {
        let vars = upstream_vars("count-api", 8080);
        let keys: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "NOMAD_UPSTREAM_ADDR_count-api",
                "NOMAD_UPSTREAM_IP_count-api",
                "NOMAD_UPSTREAM_PORT_count-api",
                "NOMAD_UPSTREAM_ADDR_count_api",
                "NOMAD_UPSTREAM_IP_count_api",
                "NOMAD_UPSTREAM_PORT_count_api",
            ]
        );
        assert_eq!(vars[0].1, "127.0.0.1:8080");
        assert_eq!(vars[1].1, "127.0.0.1");
        assert_eq!(vars[2].1, "8080");
        // a name that is already clean appears once
        assert_eq!(upstream_vars("db", 5432).len(), 3);
    }

    #[test]
    fn cleaning_follows_nomad() {
        for (raw, clean) in [
            ("count-api", "count_api"),
            ("a.b", "a.b"),
            ("9lives", "_lives"),
            ("x9", "x9"),
            ("svc/with space", "svc_with_space"),
        ] {
            assert_eq!(clean_env_var(raw), clean, "{raw}");
        }
    }

    #[test]
    fn user_values_are_never_overwritten() {
        let mut block = Block::new("task", &["app"])
            .with_block(Block::new("env", &[]).with_attr("NOMAD_UPSTREAM_PORT_db", "9999"));
        add_missing(&mut block, &upstream_vars("db", 5432));
        let env = block.block("env").map(|e| e.attributes().count());
        assert_eq!(env, Some(3));
        let b = block
            .block("env")
            .and_then(|e| e.get_str("NOMAD_UPSTREAM_PORT_db"));
        assert_eq!(b, Some("9999"));

        let mut attr_form = Block::new("task", &["app"]).with_attr(
            "env",
            Value::Object(vec![("NOMAD_UPSTREAM_IP_db".into(), "10.0.0.1".into())]),
        );
        add_missing(&mut attr_form, &upstream_vars("db", 5432));
        let Some(Value::Object(entries)) = attr_form.get("env") else {
            panic!("env attribute kept")
        };
        assert_eq!(entries.len(), 3);
        assert_eq!(entries[0].1, Value::from("10.0.0.1"));
        assert!(attr_form.block("env").is_none());
    }

    #[test]
    fn no_upstreams_no_env_block() {
        let mut block = Block::new("task", &["app"]);
        add_missing(&mut block, &[]);
        assert!(block.block("env").is_none());
    }
}
