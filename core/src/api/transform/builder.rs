//! [`Transform`], the Python SDK's `UnicatTransform` rebuilt as a typed builder.
//!
//! Every setter applies the same rules as the SDK's (`unicat` 0.7.18, `unicat/transform.py`):
//! the same clamps, the same fallbacks, the same re-validation when the resize mode changes,
//! and [`Transform::options`] prints what `transformAsOptions` prints, in the same order and
//! byte for byte, so [`Transform::key`] is the key the SDK derives and both clients share the
//! DAM's cache entries.

use std::convert::Infallible;
use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};

use super::super::TransformOptions;
use super::{push_float, transform_key};

/// How the DAM fits the image into `width` × `height` (the SDK's `resize` strings).
///
/// The option is named after the mode: `width=400`, `fill=400,300`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Resize {
    /// `"width"`: scale to the width; the height follows unless one is set. The SDK's fallback
    /// for an unknown mode.
    #[default]
    Width,
    /// `"height"`: scale to the height; the width follows unless one is set.
    Height,
    /// `"fit"`: scale to fit inside the box.
    Fit,
    /// `"fill"`: scale and crop to fill the box.
    Fill,
}

impl Resize {
    /// The SDK's name for the mode, which is also the option's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Resize::Width => "width",
            Resize::Height => "height",
            Resize::Fit => "fit",
            Resize::Fill => "fill",
        }
    }
}

impl From<&str> for Resize {
    /// The SDK's `setResize` reading of a string: `"width"`, `"height"`, `"fit"` or `"fill"`
    /// (exactly, case-sensitive), and [`Resize::Width`] for anything else.
    fn from(s: &str) -> Self {
        match s {
            "height" => Resize::Height,
            "fit" => Resize::Fit,
            "fill" => Resize::Fill,
            _ => Resize::Width,
        }
    }
}

impl FromStr for Resize {
    type Err = Infallible;

    /// As [`From<&str>`](Resize::from): never fails, an unknown mode becomes `Width`.
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(Resize::from(s))
    }
}

impl fmt::Display for Resize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The output format (the SDK's `type` strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ImageType {
    /// `"jpg"`, the SDK's fallback for an unknown type.
    #[default]
    Jpg,
    /// `"png"`.
    Png,
    /// `"gif"`.
    Gif,
}

impl ImageType {
    /// The SDK's name for the type, the value of the `type` option.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageType::Jpg => "jpg",
            ImageType::Png => "png",
            ImageType::Gif => "gif",
        }
    }
}

impl From<&str> for ImageType {
    /// The SDK's `setType` reading of a string: `"jpg"`, `"png"` or `"gif"` (exactly), and
    /// [`ImageType::Jpg`] for anything else, `"webp"` and `"JPG"` included.
    fn from(s: &str) -> Self {
        match s {
            "png" => ImageType::Png,
            "gif" => ImageType::Gif,
            _ => ImageType::Jpg,
        }
    }
}

impl FromStr for ImageType {
    type Err = Infallible;

    /// As [`From<&str>`](ImageType::from): never fails, an unknown type becomes `Jpg`.
    fn from_str(s: &str) -> Result<Self, Infallible> {
        Ok(ImageType::from(s))
    }
}

impl fmt::Display for ImageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One side of the padding: `"auto"` or a number of pixels.
///
/// Python prints an `int` as `10` and a `float` as `10.0`, and the padding text is part of the
/// cache key, so the two stay apart here: integers convert to [`Pad::Int`], floats to
/// [`Pad::Float`]. [`Transform::padding`] clamps each side like the SDK's
/// `max(0, min(side, 1000))`, which hands back the *int* bound when it clamps: `2000.5` becomes
/// `Int(1000)`, `-0.5`, `0.0`, `-0.0` and NaN become `Int(0)`, `+inf` becomes `Int(1000)`,
/// while `1000.0` and `0.5` stay floats. [`Display`](fmt::Display) prints Python's `str()`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pad {
    /// `"auto"`.
    Auto,
    /// A Python `int`.
    Int(i64),
    /// A Python `float`, printed as Python's `repr` (`10.0`, `0.5`, `1e-05`).
    Float(f64),
}

impl Pad {
    /// The SDK's `max(0, min(side, 1000))`, with Python's `min`/`max` (which keep the first
    /// argument unless the second compares strictly smaller/greater, so NaN ends up as `0`).
    fn clamped(self) -> Pad {
        match self {
            Pad::Auto => Pad::Auto,
            Pad::Int(i) => Pad::Int(i.clamp(0, 1000)),
            Pad::Float(f) if f > 1000.0 => Pad::Int(1000),
            Pad::Float(f) if f > 0.0 => Pad::Float(f),
            Pad::Float(_) => Pad::Int(0),
        }
    }
}

impl From<i32> for Pad {
    fn from(v: i32) -> Self {
        Pad::Int(v.into())
    }
}

impl From<i64> for Pad {
    fn from(v: i64) -> Self {
        Pad::Int(v)
    }
}

impl From<u32> for Pad {
    fn from(v: u32) -> Self {
        Pad::Int(v.into())
    }
}

impl From<f64> for Pad {
    fn from(v: f64) -> Self {
        Pad::Float(v)
    }
}

impl From<f32> for Pad {
    fn from(v: f32) -> Self {
        Pad::Float(v.into())
    }
}

impl fmt::Display for Pad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pad::Auto => f.write_str("auto"),
            Pad::Int(i) => write!(f, "{i}"),
            Pad::Float(v) => {
                let mut text = String::new();
                push_float(&mut text, *v, false);
                f.write_str(&text)
            }
        }
    }
}

/// A DAM transform, built the way the Python SDK's `UnicatTransform` builds one.
///
/// Each setter mirrors the SDK setter of the same meaning and applies its rules at once, in
/// call order, so a chain of calls gives what the same calls (or the same keyword arguments,
/// in the same order) give in Python:
///
/// | setter | SDK | rule |
/// |---|---|---|
/// | [`name`](Self::name), [`with_key`](Self::with_key) | `setName`, `setKey` | kept as given |
/// | [`force`](Self::force), [`optimize`](Self::optimize) | `setForce`, `setOptimize` | printed `true`/`false` |
/// | [`resize`](Self::resize) | `setResize` | unknown strings become `width`; re-runs the width and height rules |
/// | [`width`](Self::width), [`height`](Self::height) | `setWidth`, `setHeight` | `round()` (ties to even), clamped to 1..=5000; `0` means none: `1`, or unset when the resize mode is the other axis |
/// | [`image_type`](Self::image_type) | `setType` | unknown strings become `jpg` |
/// | [`hotspot`](Self::hotspot) | `setHotspot` | each clamped to 0..=1, printed `{:.5}` |
/// | [`crop`](Self::crop) | `setCrop` | each clamped to 0..=1; below 0.00001 clears the crop; sets a 0.5, 0.5 hotspot when there is none |
/// | [`padding`](Self::padding) | `setPadding` | each side [`Pad::Auto`] or clamped to 0..=1000 (see [`Pad`]) |
/// | [`quality`](Self::quality) | `setQuality` | `round()`, clamped to 0..=100 |
/// | [`background`](Self::background) | `setBackground` | `white`, `transparent` or `[#]RRGGBB` without the `#`; anything else keeps the previous value |
/// | [`dpr`](Self::dpr) | `setDevicePixelRatio` | `round()`, clamped to 1..=4 |
///
/// # NaN and infinities
///
/// No input panics. Where Python's own comparisons decide (hotspot, crop, padding) the result
/// is Python's: NaN becomes `0`, `±inf` the bound. Where the SDK calls `round()`, which raises
/// in Python, this builder picks: `±inf` clamps to the bound, and NaN means "no value" —
/// [`width`](Self::width)/[`height`](Self::height) NaN acts like `0` (the SDK's `None`), and
/// [`quality`](Self::quality)/[`dpr`](Self::dpr) NaN clears the option (the SDK's answer to a
/// non-number).
///
/// # Example
///
/// The SDK's `UnicatTransform(resize="fill", width=400, height=300, type="jpg")`:
///
/// ```
/// use serde_json::json;
/// use unicat_core::api::{ImageType, Pad, Resize, Transform};
///
/// let thumb = Transform::new()
///     .resize(Resize::Fill)
///     .width(400)
///     .height(300)
///     .image_type(ImageType::Jpg);
/// assert_eq!(
///     thumb.options(),
///     vec![("type".into(), json!("jpg")), ("fill".into(), json!("400,300"))]
/// );
/// // What the SDK's `api.transform` sends: the options plus `key = hash_data(options)`.
/// assert_eq!(thumb.key(), "7a383ca5");
/// assert_eq!(thumb.options_with_key().last(), Some(&("key".into(), json!("7a383ca5"))));
///
/// // SDK strings work too, with the SDK's fallbacks; clamps and rounding are the SDK's.
/// let t = Transform::new()
///     .resize("stretch") // unknown: "width"
///     .width(2.5) // round() ties to even: 2
///     .quality(150) // clamped: 100
///     .padding(10, 10.0, Pad::Auto, 2000); // Python prints "10,10.0,auto,1000"
/// assert_eq!(
///     t.options(),
///     vec![
///         ("width".into(), json!("2")),
///         ("padding".into(), json!("10,10.0,auto,1000")),
///         ("q".into(), json!("100")),
///     ]
/// );
/// ```
///
/// The options go to `Client::transform` as they are: the client adds the same key when
/// none is set, and none to empty options, as the SDK's `api.transform` does.
#[derive(Debug, Clone, PartialEq, Default)]
#[must_use = "a Transform is a value: each setter returns the changed one"]
pub struct Transform {
    name: Option<String>,
    key: Option<String>,
    force: Option<bool>,
    optimize: Option<bool>,
    resize: Option<Resize>,
    width: Option<i64>,
    height: Option<i64>,
    image_type: Option<ImageType>,
    hotspot: Option<(f64, f64)>,
    crop: Option<(f64, f64)>,
    padding: Option<[Pad; 4]>,
    quality: Option<i64>,
    background: Option<String>,
    dpr: Option<i64>,
}

/// Below this a crop side clears the crop (the SDK's `floatingpointthreshold`).
const CROP_THRESHOLD: f64 = 0.00001;

/// `max(lo, min(round(x), hi))` for a non-NaN `x`, with `round` tying to even.
fn round_clamp(x: f64, lo: i64, hi: i64) -> i64 {
    let r = x.round_ties_even();
    // Bounds are small, so the casts are exact; the comparisons keep infinities in range.
    if r <= lo as f64 {
        lo
    } else if r >= hi as f64 {
        hi
    } else {
        r as i64
    }
}

/// `max(0.0, min(x, 1.0))` with Python's `min`/`max`: NaN and `-0.0` become `0.0`.
fn clamp_unit(x: f64) -> f64 {
    let m = if 1.0 < x { 1.0 } else { x };
    if m > 0.0 {
        m
    } else {
        0.0
    }
}

/// The SDK's `rgb_re.match`: `^#?[0-9a-fA-F]{6}$`, where Python's `$` also matches before a
/// final newline.
fn is_rgb(s: &str) -> bool {
    let s = s.strip_suffix('\n').unwrap_or(s);
    let s = s.strip_prefix('#').unwrap_or(s);
    s.len() == 6 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Python's `str()` of an optional int.
fn py_int(v: Option<i64>) -> String {
    v.map_or_else(|| "None".to_owned(), |v| v.to_string())
}

impl Transform {
    /// An empty transform: no options (the SDK's `UnicatTransform()`).
    pub fn new() -> Self {
        Self::default()
    }

    /// `setName`: the file name the DAM gives the result.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// `setKey`: the cache key. Without one, [`Transform::key`] derives the SDK's. (Named
    /// `with_key` because `key` reads the key.)
    pub fn with_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// `setForce`: render again even when the DAM has the result cached.
    pub fn force(mut self, force: bool) -> Self {
        self.force = Some(force);
        self
    }

    /// `setOptimize`: optimize the output file.
    pub fn optimize(mut self, optimize: bool) -> Self {
        self.optimize = Some(optimize);
        self
    }

    /// `setResize`: the resize mode, as a [`Resize`] or an SDK string (unknown strings become
    /// `"width"`). Then re-applies the width and height rules to the current values, so a
    /// missing width or height becomes `1` unless the mode is the other axis.
    pub fn resize(mut self, resize: impl Into<Resize>) -> Self {
        self.set_resize(resize.into());
        self
    }

    /// `setWidth`: rounded (ties to even) and clamped to 1..=5000. `0` (or NaN) is the SDK's
    /// "no width": `1`, or none when the resize mode is `height`. The option only appears
    /// with a resize mode.
    pub fn width(mut self, width: impl Into<f64>) -> Self {
        self.set_width(Some(width.into()));
        self
    }

    /// `setHeight`: rounded (ties to even) and clamped to 1..=5000. `0` (or NaN) is the SDK's
    /// "no height": `1`, or none when the resize mode is `width`. The option only appears
    /// with a resize mode.
    pub fn height(mut self, height: impl Into<f64>) -> Self {
        self.set_height(Some(height.into()));
        self
    }

    /// `setType`: the output format, as an [`ImageType`] or an SDK string (unknown strings
    /// become `"jpg"`).
    pub fn image_type(mut self, image_type: impl Into<ImageType>) -> Self {
        self.image_type = Some(image_type.into());
        self
    }

    /// `setHotspot`: the focus point, each coordinate clamped to 0..=1 (NaN becomes 0).
    pub fn hotspot(mut self, x: impl Into<f64>, y: impl Into<f64>) -> Self {
        self.set_hotspot(x.into(), y.into());
        self
    }

    /// `setCrop`: the crop size as fractions, each clamped to 0..=1 (NaN becomes 0). A side
    /// below 0.00001 clears the crop; otherwise a 0.5, 0.5 hotspot is set when none is.
    pub fn crop(mut self, w: impl Into<f64>, h: impl Into<f64>) -> Self {
        self.set_crop(w.into(), h.into());
        self
    }

    /// `setPadding`: top, right, bottom, left, each [`Pad::Auto`] or a number clamped to
    /// 0..=1000 the way Python does it (see [`Pad`]).
    pub fn padding(
        mut self,
        top: impl Into<Pad>,
        right: impl Into<Pad>,
        bottom: impl Into<Pad>,
        left: impl Into<Pad>,
    ) -> Self {
        self.set_padding([top.into(), right.into(), bottom.into(), left.into()]);
        self
    }

    /// `setQuality`: rounded (ties to even) and clamped to 0..=100; NaN clears it.
    pub fn quality(mut self, quality: impl Into<f64>) -> Self {
        self.set_quality(quality.into());
        self
    }

    /// `setBackground`: `"white"`, `"transparent"` or an `RRGGBB` colour with an optional
    /// `#` (dropped). Anything else leaves the background as it was. Like the SDK's regex,
    /// a colour may end in one `"\n"`, which is kept.
    pub fn background(mut self, background: &str) -> Self {
        self.set_background(background);
        self
    }

    /// `setDevicePixelRatio`: rounded (ties to even) and clamped to 1..=4; NaN clears it.
    pub fn dpr(mut self, dpr: impl Into<f64>) -> Self {
        self.set_dpr(dpr.into());
        self
    }

    /// `merge`: applies every option `other` has, through the setters, in the SDK's order
    /// (name, key, force, optimize, resize, width, height, type, hotspot, crop, padding,
    /// quality, background, dpr). Options `other` lacks keep their value here.
    pub fn merge(mut self, other: &Transform) -> Self {
        self.merge_in(other);
        self
    }

    /// `mergeTransforms`: an empty transform with each of `transforms` merged in, in order.
    pub fn merged<'a>(transforms: impl IntoIterator<Item = &'a Transform>) -> Self {
        let mut out = Transform::new();
        for t in transforms {
            out.merge_in(t);
        }
        out
    }

    /// `transformAsOptions`: the options in the SDK's order (`name`, `key`, `type`, `force`,
    /// `optimize`, the resize mode, `hs`, `crop`, `padding`, `bg`, `q`, `dpr`), each value the
    /// JSON string the SDK makes. Ready for
    /// `Client::transform`, which adds the key.
    pub fn options(&self) -> TransformOptions {
        let mut out: TransformOptions = Vec::new();
        let mut push = |name: &str, text: String| out.push((name.to_owned(), Value::String(text)));
        if let Some(name) = &self.name {
            push("name", name.clone());
        }
        if let Some(key) = &self.key {
            push("key", key.clone());
        }
        if let Some(image_type) = self.image_type {
            push("type", image_type.as_str().to_owned());
        }
        if let Some(force) = self.force {
            push("force", force.to_string());
        }
        if let Some(optimize) = self.optimize {
            push("optimize", optimize.to_string());
        }
        if let Some(resize) = self.resize {
            let text = match (resize, self.width, self.height) {
                (Resize::Width, w, None) => py_int(w),
                (Resize::Height, None, h) => py_int(h),
                (_, w, h) => format!("{},{}", py_int(w), py_int(h)),
            };
            push(resize.as_str(), text);
        }
        if let Some((x, y)) = self.hotspot {
            push("hs", format!("{x:.5},{y:.5}"));
        }
        if let Some((w, h)) = self.crop {
            push("crop", format!("{w:.5},{h:.5}"));
        }
        if let Some([top, right, bottom, left]) = self.padding {
            push("padding", format!("{top},{right},{bottom},{left}"));
        }
        if let Some(background) = &self.background {
            push("bg", background.clone());
        }
        if let Some(quality) = self.quality {
            push("q", quality.to_string());
        }
        if let Some(dpr) = self.dpr {
            push("dpr", dpr.to_string());
        }
        out
    }

    /// The options the SDK's `api.transform` sends for this transform: [`options`](Self::options)
    /// with `key` = `hash_data(options)` appended last when no key was set. Like the SDK, an
    /// empty transform gets no key.
    pub fn options_with_key(&self) -> TransformOptions {
        let mut options = self.options();
        if !options.is_empty() && self.key.is_none() {
            let key = hash_options(&options);
            options.push(("key".to_owned(), Value::String(key)));
        }
        options
    }

    /// The cache key: the one set with [`with_key`](Self::with_key), else the SDK's
    /// `hash_data(transformAsOptions(t))`. For an empty transform that is `"00000f62"`, the
    /// hash of `{}`, although the SDK sends no key (and no options) then.
    pub fn key(&self) -> String {
        match &self.key {
            Some(key) => key.clone(),
            None => hash_options(&self.options()),
        }
    }

    fn set_resize(&mut self, resize: Resize) {
        self.resize = Some(resize);
        // Widths and heights are at most 5000, so the casts are exact.
        self.set_width(self.width.map(|w| w as f64));
        self.set_height(self.height.map(|h| h as f64));
    }

    fn set_width(&mut self, width: Option<f64>) {
        self.width = match width.filter(|w| *w != 0.0 && !w.is_nan()) {
            Some(w) => Some(round_clamp(w, 1, 5000)),
            None => (self.resize != Some(Resize::Height)).then_some(1),
        };
    }

    fn set_height(&mut self, height: Option<f64>) {
        self.height = match height.filter(|h| *h != 0.0 && !h.is_nan()) {
            Some(h) => Some(round_clamp(h, 1, 5000)),
            None => (self.resize != Some(Resize::Width)).then_some(1),
        };
    }

    fn set_hotspot(&mut self, x: f64, y: f64) {
        self.hotspot = Some((clamp_unit(x), clamp_unit(y)));
    }

    fn set_crop(&mut self, w: f64, h: f64) {
        let (w, h) = (clamp_unit(w), clamp_unit(h));
        if w < CROP_THRESHOLD || h < CROP_THRESHOLD {
            self.crop = None;
        } else {
            self.crop = Some((w, h));
            if self.hotspot.is_none() {
                self.set_hotspot(0.5, 0.5);
            }
        }
    }

    fn set_padding(&mut self, sides: [Pad; 4]) {
        self.padding = Some(sides.map(Pad::clamped));
    }

    fn set_quality(&mut self, quality: f64) {
        self.quality = (!quality.is_nan()).then(|| round_clamp(quality, 0, 100));
    }

    fn set_dpr(&mut self, dpr: f64) {
        self.dpr = (!dpr.is_nan()).then(|| round_clamp(dpr, 1, 4));
    }

    fn set_background(&mut self, background: &str) {
        if matches!(background, "white" | "transparent") {
            self.background = Some(background.to_owned());
        } else if is_rgb(background) {
            self.background = Some(background.replace('#', ""));
        }
    }

    fn merge_in(&mut self, other: &Transform) {
        if let Some(name) = &other.name {
            self.name = Some(name.clone());
        }
        if let Some(key) = &other.key {
            self.key = Some(key.clone());
        }
        if other.force.is_some() {
            self.force = other.force;
        }
        if other.optimize.is_some() {
            self.optimize = other.optimize;
        }
        if let Some(resize) = other.resize {
            self.set_resize(resize);
        }
        if let Some(width) = other.width {
            self.set_width(Some(width as f64));
        }
        if let Some(height) = other.height {
            self.set_height(Some(height as f64));
        }
        if other.image_type.is_some() {
            self.image_type = other.image_type;
        }
        if let Some((x, y)) = other.hotspot {
            self.set_hotspot(x, y);
        }
        if let Some((w, h)) = other.crop {
            self.set_crop(w, h);
        }
        if let Some(sides) = other.padding {
            self.set_padding(sides);
        }
        if let Some(quality) = other.quality {
            self.set_quality(quality as f64);
        }
        if let Some(background) = &other.background {
            self.set_background(background);
        }
        if let Some(dpr) = other.dpr {
            self.set_dpr(dpr as f64);
        }
    }
}

/// `hash_data(options)` of options that are all string values.
fn hash_options(options: &[(String, Value)]) -> String {
    let map: Map<String, Value> = options.iter().cloned().collect();
    transform_key(&map)
}
