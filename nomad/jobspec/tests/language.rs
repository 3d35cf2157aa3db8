//! The HCL2 language as jobspec2 evaluates it: variables, locals, functions, templates,
//! heredocs, `dynamic` blocks, `for` expressions, placeholders, and located errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use rigging_nomad_jobspec::{Error, Job, Value, Variables, parse};

fn job(text: &str) -> Job {
    parse("t.nomad.hcl", text, &Variables::new()).unwrap_or_else(|e| panic!("{e}"))
}

/// The value of `key` in the first `task`'s `env`, in a job whose only group is `g`.
fn env(job: &Job, key: &str) -> Value {
    let task = job.group("g").unwrap().tasks()[0];
    task.env()
        .into_iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| panic!("no env {key}"))
}

fn with_env(prelude: &str, env: &str) -> String {
    format!(
        "{prelude}\njob \"j\" {{\n  group \"g\" {{\n    task \"t\" {{\n      env {{\n{env}\n      }}\n    }}\n  }}\n}}\n"
    )
}

fn s(v: &str) -> Value {
    Value::String(v.to_owned())
}

#[test]
fn variables_take_defaults_then_caller_values_converted_by_type() {
    let text = with_env(
        "variable \"port\" {\n  type = number\n  default = 8080\n}\nvariable \"name\" { default = \"api\" }\nvariable \"tags\" {\n  type = list(string)\n  default = []\n}",
        "PORT = var.port\nNAME = \"${var.name}-svc\"\nTAGS = join(\",\", var.tags)",
    );
    let j = job(&text);
    assert_eq!(env(&j, "PORT"), Value::int(8080));
    assert_eq!(env(&j, "NAME"), s("api-svc"));

    let mut vars = Variables::new();
    vars.add_env([("NOMAD_VAR_name", "web"), ("PATH", "/bin")]);
    vars.add_var_file("vars.hcl", "port = 9090\n").unwrap();
    vars.add_var_arg("tags=[\"a\", \"b\"]").unwrap();
    let j = parse("t.hcl", &text, &vars).unwrap();
    assert_eq!(env(&j, "PORT"), Value::int(9090));
    assert_eq!(env(&j, "NAME"), s("web-svc"));
    assert_eq!(env(&j, "TAGS"), s("a,b"));

    // -var text for a number is read as a number; a bad one names the variable
    let mut vars = Variables::new();
    vars.set_raw("port", "7070");
    assert_eq!(
        env(&parse("t.hcl", &text, &vars).unwrap(), "PORT"),
        Value::int(7070)
    );
    let mut vars = Variables::new();
    vars.set_raw("port", "seventy");
    assert!(matches!(
        parse("t.hcl", &text, &vars),
        Err(Error::Variable { .. }) | Err(Error::Hcl(_))
    ));
    let mut vars = Variables::new();
    vars.set("nope", "x");
    let err = parse("t.hcl", &text, &vars).unwrap_err();
    assert_eq!(
        err.to_string(),
        "variable \"nope\": the job declares no such variable"
    );
}

#[test]
fn a_variable_without_value_is_a_located_error() {
    let err = parse(
        "t.hcl",
        &with_env("variable \"image\" {}", "A = var.image"),
        &Variables::new(),
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("t.hcl:1:1: variable \"image\" has no value"),
        "{err}"
    );
}

#[test]
fn locals_resolve_in_any_order_and_cycles_are_errors() {
    let j = job(&with_env(
        "locals {\n  full = \"${local.base}-${var.v}\"\n  base = upper(\"svc\")\n}\nvariable \"v\" { default = 2 }",
        "FULL = local.full",
    ));
    assert_eq!(env(&j, "FULL"), s("SVC-2"));
    let err = parse(
        "t.hcl",
        &with_env("locals {\n  a = local.b\n  b = local.a\n}", "A = local.a"),
        &Variables::new(),
    )
    .unwrap_err();
    assert!(err.to_string().starts_with("t.hcl:2:7: "), "{err}");
    assert!(err.to_string().contains("cycle"), "{err}");
}

#[test]
fn functions_nomad_offers() {
    let cases: &[(&str, Value)] = &[
        ("upper(\"a\")", s("A")),
        ("lower(\"AbC\")", s("abc")),
        (
            "format(\"%s-%d-%05.1f-%q\", \"a\", 7, 2.25, \"q\")",
            s("a-7-002.2-\"q\""),
        ),
        ("join(\"-\", [\"a\", \"b\"], [\"c\"])", s("a-b-c")),
        ("split(\",\", \"a,b\")", Value::List(vec![s("a"), s("b")])),
        (
            "concat([1], [2, 3])",
            Value::List(vec![Value::int(1), Value::int(2), Value::int(3)]),
        ),
        ("length([1, 2])", Value::int(2)),
        ("length({ a = 1 })", Value::int(1)),
        ("lookup({ a = \"x\" }, \"b\", \"d\")", s("d")),
        (
            "merge({ a = 1, b = 1 }, { b = 2 })",
            Value::Object(vec![
                ("a".into(), Value::int(1)),
                ("b".into(), Value::int(2)),
            ]),
        ),
        ("coalesce(\"\", null, \"z\")", s("z")),
        ("replace(\"a-b-c\", \"-\", \"_\")", s("a_b_c")),
        ("trimspace(\"  x \\n\")", s("x")),
        ("min(3, 1, 2)", Value::int(1)),
        ("max(3, 1, 2)", Value::int(3)),
        ("tostring(5)", s("5")),
        ("tonumber(\"42\")", Value::int(42)),
        (
            "jsonencode({ a = [1, true, \"s\"] })",
            s("{\"a\":[1,true,\"s\"]}"),
        ),
        ("keys({ b = 1, a = 2 })", Value::List(vec![s("b"), s("a")])),
        ("contains([\"a\"], \"a\")", Value::Bool(true)),
        ("10 / 4 + 1", Value::from_f64(3.5).unwrap()),
        ("5 % 3 == 2 && !false", Value::Bool(true)),
        ("true ? \"y\" : \"n\"", s("y")),
        (
            "[for x in [1, 2, 3] : x * 2 if x > 1]",
            Value::List(vec![Value::int(4), Value::int(6)]),
        ),
        (
            "{ for k, v in { a = 1 } : upper(k) => v }",
            Value::Object(vec![("A".into(), Value::int(1))]),
        ),
        (
            "[{ n = 1 }, { n = 2 }][*].n",
            Value::List(vec![Value::int(1), Value::int(2)]),
        ),
        (
            "\"%{ for x in [\"a\", \"b\"] }${x};%{ endfor }\"",
            s("a;b;"),
        ),
        ("\"%{ if 1 > 2 }yes%{ else }no%{ endif }\"", s("no")),
        ("\"a ${~ \"b\" ~} c\"", s("abc")),
    ];
    for (expr, want) in cases {
        let j = job(&with_env("", &format!("X = {expr}")));
        assert_eq!(&env(&j, "X"), want, "{expr}");
    }
}

#[test]
fn heredocs_plain_and_indented() {
    let j = job(&with_env(
        "variable \"who\" { default = \"world\" }",
        "A = <<EOF\nhello ${var.who}\n  kept\nEOF\nB = <<-EOT\n        one\n          two\n        EOT",
    ));
    assert_eq!(env(&j, "A"), s("hello world\n  kept\n"));
    assert_eq!(env(&j, "B"), s("one\n  two\n"));
    // rendered as a quoted string with \n escapes, which reads back the same
    let hcl = j.to_hcl();
    assert!(hcl.contains("\"hello world\\n  kept\\n\""), "{hcl}");
    let again = parse("r.hcl", &hcl, &Variables::new()).unwrap();
    assert_eq!(again.to_hcl(), hcl);
}

#[test]
fn runtime_placeholders_are_kept_as_text_everywhere() {
    let j = job(&with_env(
        "variable \"p\" { default = \"http\" }",
        "A = \"${attr.kernel.name}\"\nB = \"${var.p}://${NOMAD_UPSTREAM_ADDR_count_api}\"\nC = meta.connect.log_level\nD = \"${node.unique.name}/${env[\"HOME\"]}/${NOMAD_META_x}\"\nE = \"$${var.p}\"",
    ));
    assert_eq!(env(&j, "A"), s("${attr.kernel.name}"));
    assert_eq!(env(&j, "B"), s("http://${NOMAD_UPSTREAM_ADDR_count_api}"));
    assert_eq!(env(&j, "C"), s("${meta.connect.log_level}"));
    assert_eq!(
        env(&j, "D"),
        s("${node.unique.name}/${env[\"HOME\"]}/${NOMAD_META_x}")
    );
    // an escaped $${ is a literal, and stays one through a render and a parse
    assert_eq!(env(&j, "E"), s("${var.p}"));
    let again = parse("r.hcl", &j.to_hcl(), &Variables::new()).unwrap();
    assert_eq!(env(&again, "E"), s("${var.p}"));
    assert_eq!(env(&again, "A"), s("${attr.kernel.name}"));
}

#[test]
fn dynamic_blocks_expand_with_iterators_and_labels() {
    let j = job(
        "variable \"ports\" {\n  default = { http = 8080, admin = 9000 }\n}\njob \"j\" {\n  group \"g\" {\n    network {\n      dynamic \"port\" {\n        for_each = var.ports\n        iterator = p\n        labels   = [p.key]\n        content {\n          to = p.value\n        }\n      }\n    }\n    dynamic \"task\" {\n      for_each = [\"a\", \"b\"]\n      labels   = [task.value]\n      content {\n        driver = \"docker\"\n        env { INDEX = task.key }\n      }\n    }\n  }\n}\n",
    );
    let g = j.group("g").unwrap();
    let ports = g.networks()[0].ports();
    assert_eq!(
        ports
            .iter()
            .map(|p| (p.label(), p.to()))
            .collect::<Vec<_>>(),
        [("http", Some(8080)), ("admin", Some(9000))]
    );
    let tasks: Vec<&str> = g.tasks().iter().map(|t| t.name()).collect();
    assert_eq!(tasks, ["a", "b"]);
    assert_eq!(g.task("b").unwrap().env()[0].1, &Value::int(1));
    // located errors inside dynamic content
    let err = parse(
        "d.hcl",
        "job \"j\" {\n  dynamic \"group\" {\n    for_each = 3\n    content {}\n  }\n}\n",
        &Variables::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "d.hcl:3:5: for_each must be a list, set or map, found number"
    );
}

#[test]
fn errors_are_located_with_what_was_expected() {
    let cases: &[(&str, &str)] = &[
        ("job \"j\" {\n  count = \n}\n", "e.hcl:2:11: "),
        (
            "job \"j\" {\n  a = var.nope\n}\n",
            "e.hcl:2:7: unknown variable var.nope",
        ),
        (
            "job \"j\" {\n  a = upper(1, 2)\n}\n",
            "e.hcl:2:7: upper(): expected 1 argument, found 2",
        ),
        (
            "job \"j\" {\n  a = nosuch(1)\n}\n",
            "e.hcl:2:7: nosuch(): there is no function named \"nosuch\"",
        ),
        (
            "job \"j\" {\n  a = \"x${[1]}\"\n}\n",
            "e.hcl:2:11: cannot include a list",
        ),
        ("job \"j\" {\n  a = 1\n  a = 2\n}\n", "e.hcl:3:3: "),
        (
            "job \"a\" {}\njob \"b\" {}\n",
            "e.hcl:2:1: only one job block",
        ),
        (
            "group \"g\" {}\n",
            "e.hcl:1:1: unsupported block type \"group\" at the top level",
        ),
        ("variable \"v\" {}\n", "e.hcl:1:1: missing job block"),
        ("job {}\n", "e.hcl:1:1: a job block needs exactly one label"),
    ];
    for (text, want) in cases {
        let err = parse("e.hcl", text, &Variables::new())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(want),
            "{text:?}:\n  got  {err}\n  want {want}…"
        );
    }
}

#[test]
fn json_syntax_errors_are_located() {
    let err = parse("j.json", "{\"Job\": {\"ID\": }}", &Variables::new()).unwrap_err();
    assert!(
        err.to_string().starts_with("j.json:1:16: invalid JSON"),
        "{err}"
    );
    let bare = parse(
        "j.json",
        "{\"ID\": \"x\", \"TaskGroups\": [{\"Name\": \"g\", \"Count\": 2}]}",
        &Variables::new(),
    )
    .unwrap();
    assert_eq!(bare.group("g").unwrap().count(), Some(2));
}
