//! Table tests of the cursor API: each case decodes a snippet and asserts the error's line, column and text.

use std::time::Duration;

use rigging_mesh_hcl::{Document, HclError};

const FILE: &str = "t.hcl";

/// Parses `text` and runs `f` on its top-level body.
fn run<T>(
    text: &str,
    f: impl FnOnce(rigging_mesh_hcl::Body<'_>) -> Result<T, HclError>,
) -> Result<T, HclError> {
    let doc = Document::parse(FILE, text)?;
    f(doc.body())
}

fn err_at<T: std::fmt::Debug>(r: Result<T, HclError>, line: usize, col: usize, msg: &str) {
    let e = r.expect_err("expected an error");
    assert_eq!((e.location.line, e.location.column), (line, col), "{e}");
    assert!(
        e.message.contains(msg),
        "message {:?} lacks {msg:?}",
        e.message
    );
    assert_eq!(e.to_string(), format!("{FILE}:{line}:{col}: {}", e.message));
}

#[test]
fn typed_getters_ok() {
    let text = r#"
name    = "api"
port    = 8080
big     = 4000000000
on      = true
timeout = "1m30s"
ip      = "::1"
meta    = { version = "v1", "team-x" = "core" }
tags    = ["a", "b"]
"#;
    run(text, |b| {
        assert_eq!(b.required("name")?.string()?, "api");
        assert_eq!(b.required("port")?.port()?, 8080);
        assert_eq!(b.required("big")?.u32()?, 4_000_000_000);
        assert!(b.required("on")?.bool()?);
        assert_eq!(b.required("timeout")?.duration()?, Duration::from_secs(90));
        assert_eq!(b.required("ip")?.ip_addr()?.to_string(), "::1");
        let meta = b.required("meta")?.string_map()?;
        assert_eq!(meta.get("version").map(String::as_str), Some("v1"));
        assert_eq!(meta.get("team-x").map(String::as_str), Some("core"));
        assert_eq!(b.required("tags")?.strings()?, vec!["a", "b"]);
        assert!(b.attr("absent").is_none());
        Ok(())
    })
    .unwrap();
}

#[test]
fn typed_getter_errors_table() {
    type Getter = fn(rigging_mesh_hcl::Body<'_>) -> Result<(), HclError>;
    let cases: &[(&str, Getter, usize, usize, &str)] = &[
        (
            "x = 1",
            |b| b.required("x")?.string().map(drop),
            1,
            5,
            "x: expected a string, found 1",
        ),
        (
            "\n  x = \"a\"",
            |b| b.required("x")?.port().map(drop),
            2,
            7,
            "x: expected a number from 1 to 65535, found \"a\"",
        ),
        (
            "x = 0",
            |b| b.required("x")?.port().map(drop),
            1,
            5,
            "expected a number from 1 to 65535, found 0",
        ),
        (
            "x = 70000",
            |b| b.required("x")?.port().map(drop),
            1,
            5,
            "found 70000",
        ),
        (
            "x = 70000",
            |b| b.required("x")?.u16().map(drop),
            1,
            5,
            "expected a number from 0 to 65535",
        ),
        (
            "x = -1",
            |b| b.required("x")?.u32().map(drop),
            1,
            5,
            "found -1",
        ),
        (
            "x = 1.5",
            |b| b.required("x")?.u32().map(drop),
            1,
            5,
            "found 1.5",
        ),
        (
            "x = \"yes\"",
            |b| b.required("x")?.bool().map(drop),
            1,
            5,
            "expected true or false, found \"yes\"",
        ),
        (
            "x = \"5\"",
            |b| b.required("x")?.duration().map(drop),
            1,
            5,
            "missing unit after \"5\"",
        ),
        (
            "x = 5",
            |b| b.required("x")?.duration().map(drop),
            1,
            5,
            "expected a duration such as \"5s\"",
        ),
        (
            "x = \"localhost\"",
            |b| b.required("x")?.ip_addr().map(drop),
            1,
            5,
            "expected an IP address",
        ),
        (
            "x = \"${var.a}\"",
            |b| b.required("x")?.string().map(drop),
            1,
            5,
            "interpolation is not supported",
        ),
        (
            "x = var.a",
            |b| b.required("x")?.string().map(drop),
            1,
            5,
            "expected a string, found an expression",
        ),
        (
            "x = { a = 1 }",
            |b| b.required("x")?.string_map().map(drop),
            1,
            11,
            "a: expected a string, found 1",
        ),
        (
            "x = [\"a\", 2]",
            |b| b.required("x")?.strings().map(drop),
            1,
            11,
            "x: expected a string, found 2",
        ),
        (
            "x = \"a\"",
            |b| b.required("x")?.object().map(drop),
            1,
            5,
            "expected an object",
        ),
        (
            "y = 1",
            |b| b.required("x").map(drop),
            1,
            1,
            "missing required attribute \"x\"",
        ),
        ("x = \"é\"\ny = \"ü\" z", |_| Ok(()), 2, 9, ""),
    ];
    for (i, (text, get, line, col, msg)) in cases.iter().enumerate() {
        let r = run(text, get);
        let e = r.expect_err(&format!("case {i}: {text:?}"));
        assert_eq!(
            (e.location.line, e.location.column),
            (*line, *col),
            "case {i}: {e}"
        );
        assert!(
            e.message.contains(msg),
            "case {i}: {:?} lacks {msg:?}",
            e.message
        );
    }
}

#[test]
fn deny_unknown_lists_what_was_expected() {
    let text = "service \"a\" {\n  port = 1\n  prot = \"http\"\n}\n";
    err_at(
        run(text, |b| {
            for s in b.blocks("service") {
                s.body()
                    .deny_unknown(&["port", "protocol"], &["instance"])?;
            }
            Ok(())
        }),
        3,
        3,
        "unexpected attribute \"prot\"; expected attributes: port, protocol; blocks: instance",
    );
    let text = "a = 1\nweird {\n}\n";
    err_at(
        run(text, |b| b.deny_unknown(&["a"], &[])),
        2,
        1,
        "unexpected block \"weird\"; expected attributes: a; blocks: none",
    );
    let text = "meta = {\n  ok = \"1\"\n  bad = \"2\"\n}\n";
    err_at(
        run(text, |b| {
            b.required("meta")?.object()?.deny_unknown(&["ok"], &[])
        }),
        3,
        3,
        "unexpected key \"bad\"",
    );
    run("a = 1\nb { }\n", |b| b.deny_unknown(&["a"], &["b"])).unwrap();
}

#[test]
fn blocks_and_labels() {
    let text = "service \"api\" {}\nservice \"web\" {}\nservice {}\n";
    run(text, |b| {
        let blocks = b.blocks("service");
        assert_eq!(blocks.len(), 3);
        let l = blocks[1].label("name")?;
        assert_eq!(l.as_str(), "web");
        assert_eq!((l.location().line, l.location().column), (2, 9));
        let e = blocks[2].label("name").unwrap_err();
        assert_eq!((e.location.line, e.location.column), (3, 1));
        assert!(
            e.message
                .contains("has 0 label(s); expected 1: service \"<name>\""),
            "{e}"
        );
        Ok(())
    })
    .unwrap();
    err_at(
        run("sidecar \"x\" {}\n", |b| b.nested("sidecar").map(drop)),
        1,
        9,
        "has 1 label(s); expected 0",
    );
    err_at(
        run("s {}\ns {}\n", |b| b.single_block("s").map(drop)),
        2,
        1,
        "block \"s\" is given more than once",
    );
}

#[test]
fn nested_objects_in_both_forms() {
    for text in [
        "locality {\n  zone = \"a\"\n}\n",
        "locality = {\n  zone = \"a\"\n}\n",
        "locality = { zone = \"a\" }",
    ] {
        run(text, |b| {
            let loc = b.nested("locality")?.expect("present");
            loc.deny_unknown(&["zone", "region"], &[])?;
            assert_eq!(loc.required("zone")?.string()?, "a");
            assert!(loc.attr("region").is_none());
            Ok(())
        })
        .unwrap();
    }
    err_at(
        run("l { }\nl = {}\n", |b| b.nested("l").map(drop)),
        2,
        5,
        "given both as a block and as an attribute",
    );
    err_at(
        run("l = 3\n", |b| b.nested("l").map(drop)),
        1,
        5,
        "l: expected an object { … }, found 3",
    );
    err_at(
        run("l = {}\n", |b| {
            b.nested("l")?.expect("present").required("zone").map(drop)
        }),
        1,
        5,
        "missing required attribute \"zone\"",
    );
    run("u { a = 1 }\nu { a = 2 }\n", |b| {
        let list = b.nested_list("u")?;
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].required("a")?.u32()?, 2);
        Ok(())
    })
    .unwrap();
    run("u = [{ a = 1 }, { a = 2 }]\n", |b| {
        assert_eq!(b.nested_list("u")?.len(), 2);
        Ok(())
    })
    .unwrap();
}

#[test]
fn duplicates_are_errors() {
    err_at(
        run("a = 1\na = 2\n", |b| b.deny_unknown(&["a"], &[])),
        2,
        1,
        "found redefined attribute",
    );
    err_at(
        run("m = { k = \"1\", \"k\" = \"2\" }\n", |b| {
            b.required("m")?.string_map().map(drop)
        }),
        1,
        22,
        "k: key is given more than once",
    );
}

#[test]
fn label_parse_uses_fromstr_message() {
    err_at(
        run("service \"a b\" {}\n", |b| {
            b.blocks("service")[0]
                .label("name")?
                .parse::<std::net::IpAddr>()
                .map(drop)
        }),
        1,
        9,
        "invalid IP address syntax",
    );
}

#[test]
fn hcl1_nested_blocks_in_objects_keep_their_locations() {
    let text = "Routes = [\n  {\n    Match { HTTP { PathPrefix = 7 } }\n  },\n]\n";
    assert!(
        Document::parse(FILE, text).is_err(),
        "plain HCL2 rejects it"
    );
    let doc = Document::parse_hcl1_compat(FILE, text).unwrap();
    assert_eq!(doc.text(), text, "the original text is kept");
    let route = doc.body().required("Routes").unwrap().array().unwrap()[0]
        .object()
        .unwrap();
    let http = route
        .nested("Match")
        .unwrap()
        .unwrap()
        .nested("HTTP")
        .unwrap()
        .unwrap();
    err_at(
        http.required("PathPrefix").and_then(|v| v.string()),
        3,
        33,
        "PathPrefix: expected a string, found 7",
    );
}

#[test]
fn all_blocks_and_key_locations() {
    let doc = Document::parse(FILE, "a = 1\nx {}\ny \"l\" {}\nx {}\n").unwrap();
    let idents: Vec<&str> = doc.body().all_blocks().iter().map(|b| b.ident()).collect();
    assert_eq!(idents, ["x", "y", "x"]);
    let attr = doc.body().required("a").unwrap();
    assert_eq!(
        (attr.key_location().line, attr.key_location().column),
        (1, 1)
    );
    assert_eq!((attr.location().line, attr.location().column), (1, 5));
    let obj = Document::parse(FILE, "o = { k = 2 }\n").unwrap();
    let k = obj.body().required("o").unwrap().object().unwrap().attrs()[0];
    assert_eq!((k.key_location().line, k.key_location().column), (1, 7));
    assert!(
        obj.body()
            .required("o")
            .unwrap()
            .object()
            .unwrap()
            .all_blocks()
            .is_empty()
    );
}
