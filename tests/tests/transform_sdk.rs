//! `Transform` side by side with the official Python SDK's `UnicatTransform` (the `unicat`
//! package in the peers' virtual environment, installed by scripts/install-peers): the same
//! setter calls on both, then the same options (same order, same text) and the same keys.

use std::time::Duration;

use serde_json::{json, Value};
use unicat_core::api::{Pad, Transform};
use unicat_tests::peers::run_python;

/// Builds each spec with the SDK and prints, per spec, `transformAsOptions(t)`, what
/// `api.transform` sends (a `key` = `hash_data(options)` added last when there is none and
/// the options are not empty), and the key. Specs with distinct setter names are also built
/// through the constructor's keyword arguments, which must agree with the setter calls.
const SNIPPET: &str = r#"
import json, sys
from unicat.transform import UnicatTransform, transformAsOptions, mergeTransforms
from unicat.utils import hash_data

SETTERS = {
    "name": "setName", "key": "setKey", "force": "setForce", "optimize": "setOptimize",
    "resize": "setResize", "width": "setWidth", "height": "setHeight", "type": "setType",
    "hotspot": "setHotspot", "crop": "setCrop", "padding": "setPadding",
    "quality": "setQuality", "background": "setBackground", "dpr": "setDevicePixelRatio",
}
SPECIAL = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}

def args_of(name, args):
    if name in ("hotspot", "crop", "padding"):
        return [SPECIAL.get(a, a) if isinstance(a, str) else a for a in args]
    return args

def build(spec):
    if "merged" in spec:
        return mergeTransforms(*[build(s) for s in spec["merged"]])
    t = UnicatTransform()
    for name, *args in spec["steps"]:
        if name == "merge":
            t.merge(build(args[0]))
        else:
            getattr(t, SETTERS[name])(*args_of(name, args))
    names = [step[0] for step in spec["steps"]]
    if "merge" not in names and len(set(names)) == len(names):
        kwargs = {}
        for name, *args in spec["steps"]:
            args = args_of(name, args)
            kwargs[name] = tuple(args) if len(args) > 1 else args[0]
        via_kwargs = transformAsOptions(UnicatTransform(**kwargs))
        assert list(via_kwargs.items()) == list(transformAsOptions(t).items()), spec
    return t

out = []
for spec in json.loads(sys.argv[1]):
    t = build(spec)
    options = transformAsOptions(t)
    sent = dict(options)
    if sent and "key" not in sent:
        sent["key"] = hash_data(sent)
    out.append({
        "options": list(options.items()),
        "sent": list(sent.items()),
        "key": options.get("key", hash_data(options)),
    })
print(json.dumps(out))
"#;

/// How long the SDK may take, all cases together.
const DEADLINE: Duration = Duration::from_secs(60);

/// The cases: setter calls in order, named like the SDK's keyword arguments, with `merge`
/// taking a nested spec, or `merged` for `mergeTransforms`. `"nan"`, `"inf"` and `"-inf"`
/// stand for those floats in hotspot, crop and padding, the setters the SDK does not raise on.
fn cases() -> Vec<Value> {
    let a = json!({"steps": [["resize", "fill"], ["width", 400], ["height", 300], ["type", "png"], ["quality", 80]]});
    let b = json!({"steps": [["resize", "width"], ["width", 200], ["background", "white"]]});
    let c = json!({"steps": [["crop", 0.25, 0.5], ["padding", 5, "auto", 5.5, 0], ["dpr", 2]]});
    vec![
        // The SDK's README example and the empty transform.
        json!({"steps": [["resize", "fill"], ["width", 400], ["height", 300], ["type", "jpg"]]}),
        json!({"steps": []}),
        json!({"steps": [["width", 400], ["height", 300]]}),
        // Width-only and height-only resizes, and setResize's re-validation.
        json!({"steps": [["resize", "width"], ["width", 200]]}),
        json!({"steps": [["resize", "height"], ["height", 300]]}),
        json!({"steps": [["resize", "height"]]}),
        json!({"steps": [["width", 400], ["resize", "height"]]}),
        json!({"steps": [["resize", "width"], ["width", 300], ["resize", "fill"]]}),
        json!({"steps": [["resize", "fit"], ["width", 0], ["height", 0.0]]}),
        json!({"steps": [["resize", "height"], ["width", 50], ["width", 0]]}),
        json!({"steps": [["resize", "width"], ["width", 640], ["height", 480]]}),
        json!({"steps": [["resize", "stretch"], ["width", 10], ["height", 20]]}),
        // Clamps and banker's rounding.
        json!({"steps": [["resize", "fill"], ["width", 9999], ["height", -5]]}),
        json!({"steps": [["resize", "fill"], ["width", 2.5], ["height", 3.5], ["quality", 50.5], ["dpr", 2.5]]}),
        json!({"steps": [["resize", "fit"], ["width", 0.5], ["height", 4999.5], ["quality", 99.5], ["dpr", 3.5]]}),
        json!({"steps": [["resize", "fill"], ["width", 1e300], ["height", 0.4], ["quality", -1e300], ["dpr", 1.5]]}),
        json!({"steps": [["quality", -3], ["dpr", 0]]}),
        json!({"steps": [["quality", 101], ["dpr", 9]]}),
        json!({"steps": [["quality", 0.5], ["dpr", -0.5]]}),
        // Type fallback, flags, name and key.
        json!({"steps": [["type", "webp"], ["force", true], ["optimize", false]]}),
        json!({"steps": [["type", "gif"], ["force", false], ["optimize", true]]}),
        json!({"steps": [["name", "thumb"], ["key", "k1"], ["resize", "width"], ["width", 100], ["type", "png"]]}),
        json!({"steps": [["name", "caf\u{e9} \u{2615}"], ["resize", "height"], ["height", 64]]}),
        // Hotspot and crop: clamps, `:0.5f` ties, crop without a hotspot, crop cleared.
        json!({"steps": [["hotspot", 0.25, 1.5]]}),
        json!({"steps": [["hotspot", -1, 0.015625], ["crop", 0.046875, 0.984375]]}),
        json!({"steps": [["crop", 0.5, 0.75]]}),
        json!({"steps": [["crop", 0.000009, 0.5]]}),
        json!({"steps": [["crop", 0.00001, 1]]}),
        json!({"steps": [["hotspot", 0.1, 0.2], ["crop", 2, 0.3]]}),
        json!({"steps": [["crop", 0.5, 0.5], ["crop", 0.5, -3]]}),
        // Padding: ints, floats, "auto", the int bounds Python's max/min hand back.
        json!({"steps": [["padding", 10, 10.0, "auto", 2000]]}),
        json!({"steps": [["padding", -1, 1000.0, 1000.5, 0.0]]}),
        json!({"steps": [["padding", 0.5, 1e-05, 999.99, "auto"]]}),
        json!({"steps": [["padding", "auto", "auto", "auto", "auto"], ["padding", 1, 2, 3, 4]]}),
        // NaN and infinities where the SDK does not raise.
        json!({"steps": [["padding", "nan", "inf", "-inf", -0.0], ["hotspot", "nan", "inf"]]}),
        json!({"steps": [["crop", "nan", 0.5], ["hotspot", "-inf", 0.5]]}),
        json!({"steps": [["crop", "inf", "inf"]]}),
        // Backgrounds: '#' stripped, invalid values ignored (keeping the old one).
        json!({"steps": [["background", "#FF00aa"]]}),
        json!({"steps": [["background", "00ff00"], ["background", "red"]]}),
        json!({"steps": [["background", "#12345"]]}),
        json!({"steps": [["background", "White"]]}),
        json!({"steps": [["background", "transparent"], ["background", "##abcdef"]]}),
        json!({"steps": [["background", "abcdef\n"]]}),
        // Merges.
        json!({"steps": [["resize", "fill"], ["width", 400], ["height", 300], ["type", "png"], ["quality", 80], ["merge", b]]}),
        json!({"merged": [a, b]}),
        json!({"merged": [a, b, c]}),
        json!({"merged": []}),
        json!({"steps": [["resize", "height"], ["height", 100], ["merge", {"steps": [["crop", 0.5, 0.5]]}]]}),
        json!({"steps": [["name", "a"], ["key", "k"], ["hotspot", 0.9, 0.9], ["merge", {"steps": [["name", "b"], ["crop", 0.3, 0.3], ["background", "#000000"]]}]]}),
        json!({"steps": [["background", "white"], ["merge", {"steps": [["background", "bad"], ["resize", "fit"]]}]]}),
        // Everything at once, set in reverse order.
        json!({"steps": [
            ["dpr", 2], ["quality", 75], ["background", "#abcdef"], ["padding", 1, 2.5, "auto", 4],
            ["crop", 0.6, 0.4], ["hotspot", 0.3, 0.7], ["height", 300], ["width", 400],
            ["resize", "fit"], ["optimize", true], ["force", true], ["type", "png"], ["name", "all"]
        ]}),
    ]
}

fn num(v: &Value) -> f64 {
    match v {
        Value::String(s) => match s.as_str() {
            "nan" => f64::NAN,
            "inf" => f64::INFINITY,
            "-inf" => f64::NEG_INFINITY,
            other => panic!("not a number: {other:?}"),
        },
        other => other
            .as_f64()
            .unwrap_or_else(|| panic!("not a number: {other}")),
    }
}

fn pad(v: &Value) -> Pad {
    match v {
        Value::String(s) if s == "auto" => Pad::Auto,
        Value::Number(n) if n.is_i64() => Pad::Int(n.as_i64().expect("an i64")),
        other => Pad::Float(num(other)),
    }
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Our builder, following the same spec.
fn build(spec: &Value) -> Transform {
    if let Some(all) = spec.get("merged") {
        let parts: Vec<Transform> = all.as_array().expect("a list").iter().map(build).collect();
        return Transform::merged(&parts);
    }
    let mut t = Transform::new();
    for step in spec["steps"].as_array().expect("a list of steps") {
        let step = step.as_array().expect("a step is a list");
        let (name, args) = step.split_first().expect("a step has a name");
        let arg = |i: usize| &args[i];
        t = match text(name) {
            "name" => t.name(text(arg(0))),
            "key" => t.with_key(text(arg(0))),
            "force" => t.force(arg(0).as_bool().expect("a bool")),
            "optimize" => t.optimize(arg(0).as_bool().expect("a bool")),
            "resize" => t.resize(text(arg(0))),
            "width" => t.width(num(arg(0))),
            "height" => t.height(num(arg(0))),
            "type" => t.image_type(text(arg(0))),
            "hotspot" => t.hotspot(num(arg(0)), num(arg(1))),
            "crop" => t.crop(num(arg(0)), num(arg(1))),
            "padding" => t.padding(pad(arg(0)), pad(arg(1)), pad(arg(2)), pad(arg(3))),
            "quality" => t.quality(num(arg(0))),
            "background" => t.background(text(arg(0))),
            "dpr" => t.dpr(num(arg(0))),
            "merge" => t.merge(&build(arg(0))),
            other => panic!("unknown step {other:?}"),
        };
    }
    t
}

/// Runs the SDK on the specs, killing it if it takes longer than [`DEADLINE`].
fn run_sdk(specs: &[Value]) -> Vec<Value> {
    let specs = serde_json::to_string(specs).expect("specs serialize");
    let stdout = run_python(&["-c", SNIPPET, &specs], DEADLINE);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout:?}"))
}

fn pairs(options: &[(String, Value)]) -> Value {
    Value::Array(options.iter().map(|(k, v)| json!([k, v])).collect())
}

#[test]
fn transforms_match_the_python_sdk() {
    let specs = cases();
    let sdk = run_sdk(&specs);
    assert_eq!(sdk.len(), specs.len());
    for (spec, expected) in specs.iter().zip(&sdk) {
        let ours = build(spec);
        assert_eq!(
            pairs(&ours.options()),
            expected["options"],
            "options of {spec}"
        );
        assert_eq!(
            pairs(&ours.options_with_key()),
            expected["sent"],
            "options sent for {spec}"
        );
        assert_eq!(ours.key(), text(&expected["key"]), "key of {spec}");
    }
}
