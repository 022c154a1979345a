//! [`Transform`] against the SDK's own examples. Each case names the Python it mirrors; the
//! expected options and keys were printed by the real SDK (unicat 0.7.18, CPython 3.11):
//!
//! ```python
//! from unicat.transform import UnicatTransform, transformAsOptions, mergeTransforms
//! from unicat.utils import hash_data
//! o = transformAsOptions(t); print(list(o.items()), hash_data(o))
//! ```

use super::{ImageType, Pad, Resize, Transform};
use serde_json::Value;

/// Asserts `transformAsOptions(t)` and the key `api.transform` would add.
#[track_caller]
fn sdk(t: &Transform, options: &[(&str, &str)], key: &str) {
    let expected: Vec<(String, Value)> = options
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    assert_eq!(t.options(), expected);
    assert_eq!(t.key(), key);
    let with_key = t.options_with_key();
    if options.is_empty() {
        assert!(with_key.is_empty(), "the SDK adds no key to empty options");
    } else if options.iter().any(|(k, _)| *k == "key") {
        assert_eq!(with_key, expected, "a set key is not added again");
    } else {
        assert_eq!(with_key.len(), expected.len() + 1);
        assert_eq!(with_key.get(..expected.len()), Some(expected.as_slice()));
        assert_eq!(
            with_key.last(),
            Some(&("key".to_owned(), Value::String(key.to_owned())))
        );
    }
}

/// Asserts only the options (for inputs the SDK raises on, or where the key adds nothing).
#[track_caller]
fn opts(t: &Transform, options: &[(&str, &str)]) {
    let got: Vec<(String, String)> = t
        .options()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or("<not a string>").to_owned()))
        .collect();
    let expected: Vec<(String, String)> = options
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn the_readme_thumbnail() {
    // UnicatTransform(resize="fill", width=400, height=300, type="jpg")
    let t = Transform::new()
        .resize("fill")
        .width(400)
        .height(300)
        .image_type("jpg");
    sdk(&t, &[("type", "jpg"), ("fill", "400,300")], "7a383ca5");
    let typed = Transform::new()
        .resize(Resize::Fill)
        .width(400.0)
        .height(300.0)
        .image_type(ImageType::Jpg);
    assert_eq!(typed, t);
}

#[test]
fn an_empty_transform_has_no_options_and_gets_no_key() {
    // UnicatTransform(); api.transform adds no key because `if options` is false.
    sdk(&Transform::new(), &[], "00000f62");
    // UnicatTransform(width=400): a size without a resize mode prints nothing.
    opts(&Transform::new().width(400).height(300), &[]);
}

#[test]
fn width_only_and_height_only() {
    // UnicatTransform(resize="width", width=200)
    sdk(
        &Transform::new().resize("width").width(200),
        &[("width", "200")],
        "1356208c",
    );
    // UnicatTransform(resize="height", height=300)
    sdk(
        &Transform::new().resize("height").height(300),
        &[("height", "300")],
        "7d2bc3fa",
    );
    // UnicatTransform(resize="width", width=200, height=100): both when both are set.
    opts(
        &Transform::new()
            .resize(Resize::Width)
            .width(200)
            .height(100),
        &[("width", "200,100")],
    );
}

#[test]
fn set_resize_revalidates_width_and_height() {
    // UnicatTransform(resize="height"): the missing height becomes 1, the width stays None.
    sdk(
        &Transform::new().resize("height"),
        &[("height", "1")],
        "2ec10d44",
    );
    // UnicatTransform(resize="fit"): both missing sides become 1.
    sdk(
        &Transform::new().resize("fit"),
        &[("fit", "1,1")],
        "1a81860d",
    );
    // UnicatTransform(width=400, resize="height"): the width set first is kept.
    sdk(
        &Transform::new().width(400).resize("height"),
        &[("height", "400,1")],
        "539f00cc",
    );
    // UnicatTransform(resize="fit", width=0, height=0): 0 is "none", which is 1 for fit.
    sdk(
        &Transform::new().resize("fit").width(0).height(0),
        &[("fit", "1,1")],
        "1a81860d",
    );
    // setWidth(0) under resize="height" clears the width; setHeight(0) under "width" too.
    opts(
        &Transform::new().resize("height").width(50).width(0),
        &[("height", "1")],
    );
    opts(
        &Transform::new().resize("width").height(50).height(-0.0),
        &[("width", "1")],
    );
    // Switching modes keeps what is set and fills what is missing.
    opts(
        &Transform::new().resize("width").width(300).resize("fill"),
        &[("fill", "300,1")],
    );
}

#[test]
fn an_unknown_resize_mode_is_width() {
    // UnicatTransform(resize="stretch", width=10, height=20)
    sdk(
        &Transform::new().resize("stretch").width(10).height(20),
        &[("width", "10,20")],
        "349762ad",
    );
    for (s, mode) in [
        ("width", Resize::Width),
        ("height", Resize::Height),
        ("fit", Resize::Fit),
        ("fill", Resize::Fill),
        ("Fill", Resize::Width),
        ("", Resize::Width),
        (" fit", Resize::Width),
    ] {
        assert_eq!(Resize::from(s), mode, "{s:?}");
        assert_eq!(s.parse::<Resize>(), Ok(mode), "{s:?}");
    }
    assert_eq!(Resize::Fill.to_string(), "fill");
    assert_eq!(Resize::default(), Resize::Width);
}

#[test]
fn width_and_height_round_and_clamp() {
    // UnicatTransform(resize="fill", width=9999, height=-5)
    sdk(
        &Transform::new().resize("fill").width(9999).height(-5),
        &[("fill", "5000,1")],
        "764b9461",
    );
    // UnicatTransform(resize="fill", width=0.4, height=5000.4): round() then clamp.
    opts(
        &Transform::new().resize("fill").width(0.4).height(5000.4),
        &[("fill", "1,5000")],
    );
    // round() ties to even: 0.5 -> 0 -> 1, 1.5 -> 2, 4999.5 -> 5000, 5000.5 -> 5000.
    opts(
        &Transform::new().resize("fill").width(0.5).height(1.5),
        &[("fill", "1,2")],
    );
    opts(
        &Transform::new().resize("fill").width(4999.5).height(5000.5),
        &[("fill", "5000,5000")],
    );
    opts(
        &Transform::new().resize("fill").width(1e300).height(-1e300),
        &[("fill", "5000,1")],
    );
}

#[test]
fn halves_round_to_even() {
    // UnicatTransform(resize="fill", width=2.5, height=3.5, quality=50.5, dpr=2.5)
    sdk(
        &Transform::new()
            .resize("fill")
            .width(2.5)
            .height(3.5)
            .quality(50.5)
            .dpr(2.5),
        &[("fill", "2,4"), ("q", "50"), ("dpr", "2")],
        "6453041d",
    );
}

#[test]
fn quality_clamps_to_0_100() {
    // UnicatTransform(quality=-3), (quality=101), (quality=0.5), (quality=1.5)
    sdk(&Transform::new().quality(-3), &[("q", "0")], "5624f6a7");
    sdk(&Transform::new().quality(101), &[("q", "100")], "60d54128");
    sdk(&Transform::new().quality(0.5), &[("q", "0")], "5624f6a7");
    sdk(&Transform::new().quality(1.5), &[("q", "2")], "5624fe29");
    opts(&Transform::new().quality(-0.5), &[("q", "0")]);
    opts(&Transform::new().quality(99.5), &[("q", "100")]);
}

#[test]
fn dpr_clamps_to_1_4() {
    // UnicatTransform(dpr=0), (dpr=9), (dpr=3.5)
    sdk(&Transform::new().dpr(0), &[("dpr", "1")], "71010213");
    sdk(&Transform::new().dpr(9), &[("dpr", "4")], "71010d56");
    sdk(&Transform::new().dpr(3.5), &[("dpr", "4")], "71010d56");
    opts(&Transform::new().dpr(1.5), &[("dpr", "2")]);
    opts(&Transform::new().dpr(-7), &[("dpr", "1")]);
}

#[test]
fn an_unknown_type_is_jpg() {
    // UnicatTransform(type="webp"), UnicatTransform(type="png")
    sdk(
        &Transform::new().image_type("webp"),
        &[("type", "jpg")],
        "7e300881",
    );
    sdk(
        &Transform::new().image_type("png"),
        &[("type", "png")],
        "7e83acc9",
    );
    opts(
        &Transform::new().image_type(ImageType::Gif),
        &[("type", "gif")],
    );
    for (s, ty) in [
        ("jpg", ImageType::Jpg),
        ("png", ImageType::Png),
        ("gif", ImageType::Gif),
        ("PNG", ImageType::Jpg),
        ("jpeg", ImageType::Jpg),
    ] {
        assert_eq!(ImageType::from(s), ty, "{s:?}");
        assert_eq!(s.parse::<ImageType>(), Ok(ty), "{s:?}");
    }
    assert_eq!(ImageType::Gif.to_string(), "gif");
}

#[test]
fn flags_print_as_true_and_false() {
    // UnicatTransform(force=True, optimize=False)
    sdk(
        &Transform::new().force(true).optimize(false),
        &[("force", "true"), ("optimize", "false")],
        "x8c34391",
    );
}

#[test]
fn a_set_key_comes_second_and_is_not_derived() {
    // UnicatTransform(name="thumb", key="k1", resize="width", width=100)
    let t = Transform::new()
        .name("thumb")
        .with_key("k1")
        .resize("width")
        .width(100);
    sdk(
        &t,
        &[("name", "thumb"), ("key", "k1"), ("width", "100")],
        "k1",
    );
}

#[test]
fn options_come_in_the_sdk_order_whatever_the_call_order() {
    let t = Transform::new()
        .dpr(2)
        .quality(80)
        .background("white")
        .padding(1, 2, 3, 4)
        .crop(0.5, 0.5)
        .hotspot(0.2, 0.8)
        .resize("fit")
        .width(10)
        .height(20)
        .optimize(true)
        .force(false)
        .image_type("gif")
        .with_key("k")
        .name("n");
    let names: Vec<String> = t.options().into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        names,
        [
            "name", "key", "type", "force", "optimize", "fit", "hs", "crop", "padding", "bg", "q",
            "dpr"
        ]
    );
}

#[test]
fn hotspot_clamps_to_the_unit_square() {
    // UnicatTransform(hotspot=(0.25, 1.5)), UnicatTransform(hotspot=(-1, 0.015625))
    sdk(
        &Transform::new().hotspot(0.25, 1.5),
        &[("hs", "0.25000,1.00000")],
        "262159bb",
    );
    // `:0.5f` rounds an exact tie to even, as `{:.5}` does.
    sdk(
        &Transform::new().hotspot(-1, 0.015625),
        &[("hs", "0.00000,0.01562")],
        "2a8c8287",
    );
    opts(
        &Transform::new().hotspot(0.046875, 0.999996),
        &[("hs", "0.04688,1.00000")],
    );
}

#[test]
fn crop_sets_a_centred_hotspot_and_clears_below_the_threshold() {
    // UnicatTransform(crop=(0.5, 0.75))
    sdk(
        &Transform::new().crop(0.5, 0.75),
        &[("hs", "0.50000,0.50000"), ("crop", "0.50000,0.75000")],
        "7568f302",
    );
    // UnicatTransform(crop=(0.000009, 0.5)): below 0.00001, no crop and no hotspot.
    sdk(&Transform::new().crop(0.000009, 0.5), &[], "00000f62");
    // UnicatTransform(hotspot=(0.1, 0.2), crop=(2, 0.3)): the hotspot stays, 2 clamps to 1.
    sdk(
        &Transform::new().hotspot(0.1, 0.2).crop(2, 0.3),
        &[("hs", "0.10000,0.20000"), ("crop", "1.00000,0.30000")],
        "4ef94a3a",
    );
    // Exactly the threshold is kept; a later tiny crop clears the crop but not the hotspot.
    opts(
        &Transform::new().crop(0.00001, 1),
        &[("hs", "0.50000,0.50000"), ("crop", "0.00001,1.00000")],
    );
    opts(
        &Transform::new().crop(0.5, 0.5).crop(0.5, -3),
        &[("hs", "0.50000,0.50000")],
    );
}

#[test]
fn padding_keeps_python_ints_and_floats_apart() {
    // UnicatTransform(padding=(10, 10.0, "auto", 2000))
    sdk(
        &Transform::new().padding(10, 10.0, Pad::Auto, 2000),
        &[("padding", "10,10.0,auto,1000")],
        "4dcbdc4b",
    );
    // UnicatTransform(padding=(-1, 1000.0, 1000.5, 0.0)): max/min hand back the int bound.
    sdk(
        &Transform::new().padding(-1, 1000.0, 1000.5, 0.0),
        &[("padding", "0,1000.0,1000,0")],
        "5bd0df69",
    );
    // UnicatTransform(padding=(0.5, 1e-05, 999.99, "auto")): floats print as repr().
    sdk(
        &Transform::new().padding(0.5, 1e-05, 999.99, Pad::Auto),
        &[("padding", "0.5,1e-05,999.99,auto")],
        "56c896ba",
    );
    assert_eq!(Pad::from(7_i64).to_string(), "7");
    assert_eq!(Pad::from(7_u32), Pad::Int(7));
    assert_eq!(Pad::from(2.5_f32).to_string(), "2.5");
    assert_eq!(Pad::Float(1e16).to_string(), "1e+16");
}

#[test]
fn background_strips_the_hash_and_ignores_invalid_colours() {
    // UnicatTransform(background="#FF00aa"), ("white"), ("transparent")
    sdk(
        &Transform::new().background("#FF00aa"),
        &[("bg", "FF00aa")],
        "13391c9f",
    );
    sdk(
        &Transform::new().background("white"),
        &[("bg", "white")],
        "547779de",
    );
    sdk(
        &Transform::new().background("transparent"),
        &[("bg", "transparent")],
        "72dff947",
    );
    // UnicatTransform(background="00ff00").setBackground("red"): the old value stays.
    sdk(
        &Transform::new().background("00ff00").background("red"),
        &[("bg", "00ff00")],
        "2d5466bf",
    );
    // UnicatTransform(background="#12345"): invalid, and nothing to keep.
    sdk(&Transform::new().background("#12345"), &[], "00000f62");
    // UnicatTransform(background="abcdef\n"): Python's `$` matches before a final newline.
    sdk(
        &Transform::new().background("abcdef\n"),
        &[("bg", "abcdef\n")],
        "49aa9cf6",
    );
    for bad in [
        "White",
        "##abcdef",
        "abcdefa",
        "abcdeg",
        "abcdef\n\n",
        "\nabcdef",
        "",
        "ab cdef",
        "éabcde",
    ] {
        opts(&Transform::new().background(bad), &[]);
    }
}

#[test]
fn merge_applies_the_other_transform_through_the_setters() {
    // mergeTransforms(UnicatTransform(resize="fill", width=400, height=300, type="png",
    //     quality=80), UnicatTransform(resize="width", width=200, background="white"))
    let a = Transform::new()
        .resize("fill")
        .width(400)
        .height(300)
        .image_type("png")
        .quality(80);
    let b = Transform::new()
        .resize("width")
        .width(200)
        .background("white");
    let expected = [
        ("type", "png"),
        ("width", "200,300"),
        ("bg", "white"),
        ("q", "80"),
    ];
    sdk(&Transform::merged([&a, &b]), &expected, "13e0ccb5");
    sdk(&a.clone().merge(&b), &expected, "13e0ccb5");
    // UnicatTransform(resize="height", height=100).merge(UnicatTransform(crop=(0.5, 0.5)))
    sdk(
        &Transform::new()
            .resize("height")
            .height(100)
            .merge(&Transform::new().crop(0.5, 0.5)),
        &[
            ("height", "100"),
            ("hs", "0.50000,0.50000"),
            ("crop", "0.50000,0.50000"),
        ],
        "4a210707",
    );
    // Merging an empty transform changes nothing; merging nothing gives an empty one.
    assert_eq!(a.clone().merge(&Transform::new()), a);
    assert_eq!(Transform::merged([]), Transform::new());
    // Every option carries over.
    let all = Transform::new()
        .name("n")
        .with_key("k")
        .force(true)
        .optimize(true)
        .hotspot(0.1, 0.9)
        .padding(Pad::Auto, 1.5, 2, 3)
        .dpr(3);
    assert_eq!(Transform::merged([&all]), all);
}

#[test]
fn nan_and_infinities_never_panic() {
    // Where Python's min/max decide (no exception in the SDK), the result is Python's:
    // UnicatTransform(hotspot=(nan, inf)), UnicatTransform(padding=(nan, inf, -inf, -0.0))
    sdk(
        &Transform::new().hotspot(f64::NAN, f64::INFINITY),
        &[("hs", "0.00000,1.00000")],
        "432d1e58",
    );
    sdk(
        &Transform::new().padding(f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0),
        &[("padding", "0,1000,0,0")],
        "646d5cbe",
    );
    opts(&Transform::new().crop(f64::NAN, 0.5), &[]);
    // Where the SDK's round() raises, infinities clamp and NaN is "no value".
    opts(
        &Transform::new()
            .resize("fill")
            .width(f64::INFINITY)
            .height(f64::NEG_INFINITY),
        &[("fill", "5000,1")],
    );
    opts(
        &Transform::new().resize("fill").width(f64::NAN),
        &[("fill", "1,1")],
    );
    opts(
        &Transform::new().resize("height").width(f64::NAN),
        &[("height", "1")],
    );
    opts(
        &Transform::new()
            .quality(f64::INFINITY)
            .dpr(f64::NEG_INFINITY),
        &[("q", "100"), ("dpr", "1")],
    );
    opts(&Transform::new().quality(50).quality(f64::NAN), &[]);
    opts(&Transform::new().dpr(2).dpr(f64::NAN), &[]);
    // A hand-built unclamped pad still prints without panicking.
    assert_eq!(Pad::Float(f64::NAN).to_string(), "nan");
}
