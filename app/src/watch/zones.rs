//! The owner's editor of a camera's motion zones and privacy masks: a still of the live picture
//! on a canvas, rectangles dragged or polygons clicked on it, zone names, sensitivity and minimum
//! area; "Save to the camera" sends them whole (`set_motion_settings`) and the editor then shows
//! what the camera stored, or the camera's refusal as it said it (a zone outside the picture, a
//! shape of too many points). Drawn by hand into the page, like the timeline's panel.
//!
//! Points are the camera's normalized units (`mumu_shared::events::COORD_MAX` across and down),
//! so the still's size does not matter. The editor bounds what it keeps (a shape has at most
//! [`MAX_DRAWN_POINTS`] corners) but leaves the camera's own limits to the camera: its answer is
//! the one truth, and its message names what to change.

use mumu_shared::events::{COORD_MAX, MotionSettings, MotionZone, Point, PrivacyMask, rectangle};
use wasm_bindgen::JsCast;
use web_sys::{CanvasRenderingContext2d, Element, HtmlCanvasElement, HtmlVideoElement};

/// The most corners the editor lets one polygon have: more than the camera takes (16), so that
/// the camera's refusal can be seen, and bounded all the same.
pub const MAX_DRAWN_POINTS: usize = 64;

/// The smallest rectangle kept, in normalized units each way (a click is not a rectangle).
const MIN_SIDE: u16 = 50;

/// The still's size when the live picture has none yet.
const FALLBACK_SIZE: (u32, u32) = (640, 360);

const MARKUP: &str = r#"<h4>Zones and privacy masks</h4><p class="muted">Motion counts only inside the motion zones (none: the whole picture). Privacy masks are blacked out on the camera, before anything is encoded: nobody sees what is under them, live or recorded.</p><div class="editor-tools"><label>Draw <select class="draw-kind"><option value="zone">a motion zone</option><option value="mask">a privacy mask</option></select></label> <label>as <select class="draw-shape"><option value="rect">a rectangle (drag)</option><option value="polygon">a polygon (click its corners)</option></select></label> <label class="zone-name-label">named <input class="zone-name" type="text" maxlength="64" placeholder="Front door"></label> <button type="button" class="finish-polygon" hidden>Finish the polygon</button> <button type="button" class="cancel-shape" hidden>Cancel this shape</button></div><canvas class="editor-canvas" aria-label="The camera's picture: draw on it"></canvas><ul class="shape-list"></ul><div class="editor-numbers"><label>Sensitivity (1 to 100) <input class="sensitivity" type="number" min="1" max="100" step="1"></label> <label>Minimum area, % of the picture <input class="min-area" type="number" min="0.01" max="100" step="0.01"></label></div><p class="editor-error error" role="alert" hidden></p><p class="editor-status" role="status"></p><div class="editor-actions"><button type="button" class="primary save-settings">Save to the camera</button> <button type="button" class="editor-close">Close</button></div>"#;

/// What the person chose to draw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Zone,
    Mask,
}

/// A normalized point from a position on an element `width` x `height` pixels, kept inside the
/// picture.
pub fn normalized(x: f64, y: f64, width: f64, height: f64) -> Point {
    let scale = |v: f64, size: f64| {
        let f = (v / size.max(1.0)).clamp(0.0, 1.0);
        (f * f64::from(COORD_MAX)).round() as u16
    };
    Point::new(scale(x, width), scale(y, height))
}

/// The rectangle between two corners dragged in any direction, if it is big enough to mean one.
pub fn dragged(a: Point, b: Point) -> Option<Vec<Point>> {
    let (left, right) = (a.x.min(b.x), a.x.max(b.x));
    let (top, bottom) = (a.y.min(b.y), a.y.max(b.y));
    (right - left >= MIN_SIDE && bottom - top >= MIN_SIDE)
        .then(|| rectangle(left, top, right, bottom))
}

/// A zone name not used yet: "Zone 1", "Zone 2", …
pub fn free_name(zones: &[MotionZone]) -> String {
    (1..)
        .map(|n| format!("Zone {n}"))
        .find(|name| !zones.iter().any(|z| &z.name == name))
        .unwrap_or_default()
}

/// The minimum area typed as a percentage of the picture, in ten-thousandths.
pub fn min_area_of(percent: &str) -> Result<u16, String> {
    let value: f64 = percent
        .trim()
        .parse()
        .map_err(|_| format!("The minimum area must be a number of per cent (got {percent:?})."))?;
    let units = (value * 100.0).round();
    if !(1.0..=f64::from(COORD_MAX)).contains(&units) {
        return Err("The minimum area must be between 0.01 % and 100 % of the picture.".into());
    }
    Ok(units as u16)
}

/// The sensitivity as typed.
pub fn sensitivity_of(text: &str) -> Result<u8, String> {
    match text.trim().parse::<u8>() {
        Ok(value @ 1..=100) => Ok(value),
        _ => Err(format!(
            "The sensitivity must be a whole number from 1 to 100 (got {text:?})."
        )),
    }
}

/// "2 motion zones and 1 privacy mask".
pub fn summary(settings: &MotionSettings) -> String {
    let count =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    format!(
        "{} and {}",
        count(settings.zones.len(), "motion zone", "motion zones"),
        count(settings.masks.len(), "privacy mask", "privacy masks")
    )
}

/// What the editor does next, for its owner (the events panel) to carry out.
pub enum Action {
    /// Send these settings to the camera.
    Save(MotionSettings),
    /// The editor was closed.
    Closed,
}

/// The editor, written into its `<div class="zone-editor">`.
pub struct ZoneEditor {
    root: Element,
    canvas: HtmlCanvasElement,
    /// The still of the live picture the shapes are drawn on.
    still: Option<HtmlCanvasElement>,
    /// What is drawn so far (the camera's settings, changed here until saved).
    draft: MotionSettings,
    /// The corners of the shape being drawn (a polygon), or the drag's start and where the
    /// pointer is now (a rectangle).
    pending: Vec<Point>,
    drag: Option<(Point, Point)>,
    /// Waiting for the camera's answer to a save.
    pub saving: bool,
    pub is_open: bool,
}

fn part(root: &Element, class: &str) -> Option<Element> {
    root.query_selector(class).ok().flatten()
}

fn value_of(root: &Element, class: &str) -> String {
    part(root, class)
        .and_then(|e| js_sys::Reflect::get(&e, &"value".into()).ok())
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

fn set_value(root: &Element, class: &str, value: &str) {
    if let Some(e) = part(root, class) {
        let _ = js_sys::Reflect::set(&e, &"value".into(), &value.into());
    }
}

fn show(element: Option<Element>, shown: bool) {
    if let Some(e) = element {
        let _ = if shown {
            e.remove_attribute("hidden")
        } else {
            e.set_attribute("hidden", "")
        };
    }
}

impl ZoneEditor {
    /// Writes the editor (hidden) into `root`.
    pub fn new(root: Element) -> Option<Self> {
        root.set_inner_html(MARKUP);
        let canvas = part(&root, ".editor-canvas")?.dyn_into().ok()?;
        Some(Self {
            root,
            canvas,
            still: None,
            draft: MotionSettings::default(),
            pending: Vec::new(),
            drag: None,
            saving: false,
            is_open: false,
        })
    }

    /// The canvas (for the pointer's events).
    pub fn canvas(&self) -> &HtmlCanvasElement {
        &self.canvas
    }

    /// Opens on a still of `live` (as it shows now) with the camera's `settings`.
    pub fn open(&mut self, live: &HtmlVideoElement, settings: MotionSettings) {
        let (w, h) = match (live.video_width(), live.video_height()) {
            (0, _) | (_, 0) => FALLBACK_SIZE,
            size => size,
        };
        self.still = still_of(live, w, h);
        self.canvas.set_width(w);
        self.canvas.set_height(h);
        self.is_open = true;
        self.saving = false;
        self.pending.clear();
        self.drag = None;
        show(Some(self.root.clone()), true);
        self.set_status("");
        self.set_error(None);
        self.show_settings(settings);
        self.root.scroll_into_view();
    }

    /// The camera's settings in force: after a save, what it stored.
    pub fn stored(&mut self, settings: MotionSettings) {
        if !self.is_open {
            return;
        }
        if std::mem::take(&mut self.saving) {
            self.set_status(&format!("Saved: the camera keeps {}.", summary(&settings)));
            self.set_error(None);
        }
        self.show_settings(settings);
    }

    /// The camera refused the settings (or would not show them): its words, as it said them.
    pub fn refused(&mut self, sentence: &str) {
        self.saving = false;
        if self.is_open {
            self.set_status("");
            self.set_error(Some(&format!(
                "The camera refused these settings: {sentence}"
            )));
        }
    }

    fn show_settings(&mut self, settings: MotionSettings) {
        set_value(
            &self.root,
            ".sensitivity",
            &settings.sensitivity.to_string(),
        );
        let percent = f64::from(settings.min_area) / 100.0;
        set_value(&self.root, ".min-area", &crate::format::fixed(percent, 2));
        self.draft = settings;
        self.draw();
    }

    fn set_status(&self, text: &str) {
        if let Some(e) = part(&self.root, ".editor-status") {
            e.set_text_content(Some(text));
        }
    }

    fn set_error(&self, text: Option<&str>) {
        let element = part(&self.root, ".editor-error");
        if let Some(e) = &element {
            e.set_text_content(text);
        }
        show(element, text.is_some());
    }

    fn kind(&self) -> Kind {
        if value_of(&self.root, ".draw-kind") == "mask" {
            Kind::Mask
        } else {
            Kind::Zone
        }
    }

    fn polygon(&self) -> bool {
        value_of(&self.root, ".draw-shape") == "polygon"
    }

    /// A click, a change or the pointer (`pointerdown`, `pointermove`, `pointerup`,
    /// `pointerleave`) on the editor: what to do next, if anything.
    pub fn on_event(&mut self, event: &web_sys::Event) -> Option<Action> {
        let kind = event.type_();
        // A pointer event is a mouse event with more (a finger's, a pen's).
        if let Some(kind) = kind.strip_prefix("pointer") {
            self.pointer(kind, event.unchecked_ref());
            return None;
        }
        let target: Element = event.target()?.dyn_into().ok()?;
        if kind == "change" {
            // Another kind or shape: a shape half drawn is dropped.
            if target.tag_name() != "SELECT" {
                return None;
            }
            self.pending.clear();
            self.drag = None;
            self.draw();
            return None;
        }
        let button = target.closest("button").ok()??;
        let class = button.get_attribute("class").unwrap_or_default();
        match class.as_str() {
            "finish-polygon" => self.finish_polygon(),
            "cancel-shape" => {
                self.pending.clear();
                self.drag = None;
                self.draw();
            }
            "remove-shape" => {
                let index: usize = button.get_attribute("data-index")?.parse().ok()?;
                let mask = button.get_attribute("data-kind").as_deref() == Some("mask");
                if mask && index < self.draft.masks.len() {
                    self.draft.masks.remove(index);
                } else if !mask && index < self.draft.zones.len() {
                    self.draft.zones.remove(index);
                }
                self.draw();
            }
            "editor-close" => {
                self.is_open = false;
                self.saving = false;
                show(Some(self.root.clone()), false);
                return Some(Action::Closed);
            }
            class if class.contains("save-settings") => return self.save(),
            _ => {}
        }
        None
    }

    fn save(&mut self) -> Option<Action> {
        let numbers = sensitivity_of(&value_of(&self.root, ".sensitivity"))
            .and_then(|s| Ok((s, min_area_of(&value_of(&self.root, ".min-area"))?)));
        match numbers {
            Ok((sensitivity, min_area)) => {
                self.draft.sensitivity = sensitivity;
                self.draft.min_area = min_area;
                self.saving = true;
                self.set_error(None);
                self.set_status("Sending to the camera…");
                Some(Action::Save(self.draft.clone()))
            }
            Err(why) => {
                self.set_error(Some(&why));
                None
            }
        }
    }

    fn pointer(&mut self, kind: &str, event: &web_sys::MouseEvent) {
        let width = f64::from(self.canvas.client_width());
        let height = f64::from(self.canvas.client_height());
        let p = normalized(
            f64::from(event.offset_x()),
            f64::from(event.offset_y()),
            width,
            height,
        );
        if self.polygon() {
            if kind == "up" && self.pending.len() < MAX_DRAWN_POINTS {
                self.pending.push(p);
                self.draw();
            }
            return;
        }
        match (kind, self.drag) {
            ("down", _) => self.drag = Some((p, p)),
            ("move", Some((start, _))) if event.buttons() & 1 == 1 => {
                self.drag = Some((start, p));
            }
            ("up", Some((start, _))) => {
                self.drag = None;
                if let Some(points) = dragged(start, p) {
                    self.add(points);
                }
            }
            ("leave", Some(_)) => self.drag = None,
            _ => return,
        }
        self.draw();
    }

    fn finish_polygon(&mut self) {
        if self.pending.len() < 3 {
            self.set_error(Some(
                "A polygon needs at least 3 corners: click them on the picture.",
            ));
            return;
        }
        let points = std::mem::take(&mut self.pending);
        self.add(points);
        self.draw();
    }

    fn add(&mut self, points: Vec<Point>) {
        self.set_error(None);
        match self.kind() {
            Kind::Mask => self.draft.masks.push(PrivacyMask { points }),
            Kind::Zone => {
                let typed = value_of(&self.root, ".zone-name").trim().to_owned();
                let name = if typed.is_empty() {
                    free_name(&self.draft.zones)
                } else {
                    typed
                };
                self.draft.zones.push(MotionZone { name, points });
                set_value(&self.root, ".zone-name", "");
            }
        }
    }

    /// Draws the still, the shapes and the one being drawn, and lists the shapes.
    fn draw(&self) {
        let polygon = self.polygon();
        show(part(&self.root, ".finish-polygon"), polygon);
        show(
            part(&self.root, ".cancel-shape"),
            !self.pending.is_empty() || self.drag.is_some(),
        );
        show(
            part(&self.root, ".zone-name-label"),
            self.kind() == Kind::Zone,
        );
        self.list();
        let Some(ctx) = context(&self.canvas) else {
            return;
        };
        let (w, h) = (
            f64::from(self.canvas.width()),
            f64::from(self.canvas.height()),
        );
        ctx.clear_rect(0.0, 0.0, w, h);
        if let Some(still) = &self.still {
            let _ = ctx.draw_image_with_html_canvas_element_and_dw_and_dh(still, 0.0, 0.0, w, h);
        }
        let at = |p: &Point| {
            (
                f64::from(p.x) * w / f64::from(COORD_MAX),
                f64::from(p.y) * h / f64::from(COORD_MAX),
            )
        };
        let path = |points: &[Point], close: bool| {
            ctx.begin_path();
            for (i, p) in points.iter().enumerate() {
                let (x, y) = at(p);
                if i == 0 {
                    ctx.move_to(x, y);
                } else {
                    ctx.line_to(x, y);
                }
            }
            if close {
                ctx.close_path();
            }
        };
        ctx.set_line_width((w / 320.0).max(2.0));
        for mask in &self.draft.masks {
            path(&mask.points, true);
            ctx.set_fill_style_str("rgba(0, 0, 0, 0.85)");
            ctx.fill();
            ctx.set_stroke_style_str("#f59e0b");
            ctx.stroke();
        }
        ctx.set_font(&format!("{}px sans-serif", (h / 20.0).max(12.0).round()));
        for zone in &self.draft.zones {
            path(&zone.points, true);
            ctx.set_fill_style_str("rgba(37, 99, 235, 0.25)");
            ctx.fill();
            ctx.set_stroke_style_str("#2563eb");
            ctx.stroke();
            if let Some(first) = zone.points.first() {
                let (x, y) = at(first);
                ctx.set_fill_style_str("#ffffff");
                let _ = ctx.fill_text(&zone.name, x + 6.0, y + h / 16.0);
            }
        }
        let drawing: Vec<Point> = match self.drag {
            Some((a, b)) => rectangle(a.x.min(b.x), a.y.min(b.y), a.x.max(b.x), a.y.max(b.y)),
            None => self.pending.clone(),
        };
        if !drawing.is_empty() {
            path(&drawing, self.drag.is_some());
            ctx.set_stroke_style_str("#facc15");
            ctx.stroke();
            for p in &drawing {
                let (x, y) = at(p);
                ctx.set_fill_style_str("#facc15");
                ctx.fill_rect(x - 3.0, y - 3.0, 6.0, 6.0);
            }
        }
        let _ = self
            .canvas
            .set_attribute("data-pending-points", &self.pending.len().to_string());
    }

    /// The shapes as a list, each with its Remove button.
    fn list(&self) {
        let Some(list) = part(&self.root, ".shape-list") else {
            return;
        };
        let Some(document) = web_sys::window().and_then(|w| w.document()) else {
            return;
        };
        list.set_inner_html("");
        let rows = (self.draft.zones.iter().enumerate())
            .map(|(i, z)| {
                (
                    "zone",
                    i,
                    format!("Motion zone “{}”", z.name),
                    z.points.len(),
                )
            })
            .chain(
                (self.draft.masks.iter().enumerate())
                    .map(|(i, m)| ("mask", i, format!("Privacy mask {}", i + 1), m.points.len())),
            );
        for (kind, index, label, points) in rows {
            let Ok(item) = document.create_element("li") else {
                continue;
            };
            let _ = item.set_attribute("class", &format!("shape {kind}"));
            item.set_text_content(Some(&format!("{label}: {points} corners ")));
            if let Ok(button) = document.create_element("button") {
                let _ = button.set_attribute("type", "button");
                let _ = button.set_attribute("class", "remove-shape");
                let _ = button.set_attribute("data-kind", kind);
                let _ = button.set_attribute("data-index", &index.to_string());
                button.set_text_content(Some("Remove"));
                let _ = item.append_child(&button);
            }
            let _ = list.append_child(&item);
        }
        let _ = self.root.set_attribute(
            "data-shapes",
            &format!("{} {}", self.draft.zones.len(), self.draft.masks.len()),
        );
    }
}

fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas.get_context("2d").ok().flatten()?.dyn_into().ok()
}

/// A copy of the video's picture now, `w` x `h`.
fn still_of(live: &HtmlVideoElement, w: u32, h: u32) -> Option<HtmlCanvasElement> {
    let canvas: HtmlCanvasElement = web_sys::window()?
        .document()?
        .create_element("canvas")
        .ok()?
        .dyn_into()
        .ok()?;
    canvas.set_width(w);
    canvas.set_height(h);
    let ctx = context(&canvas)?;
    ctx.draw_image_with_html_video_element_and_dw_and_dh(
        live,
        0.0,
        0.0,
        f64::from(w),
        f64::from(h),
    )
    .ok()?;
    Some(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_become_points_inside_the_picture() {
        assert_eq!(normalized(0.0, 0.0, 640.0, 360.0), Point::new(0, 0));
        assert_eq!(
            normalized(320.0, 90.0, 640.0, 360.0),
            Point::new(5_000, 2_500)
        );
        assert_eq!(
            normalized(700.0, -5.0, 640.0, 360.0),
            Point::new(COORD_MAX, 0),
            "kept inside"
        );
        assert_eq!(
            normalized(5.0, 5.0, 0.0, 0.0),
            Point::new(COORD_MAX, COORD_MAX)
        );
    }

    #[test]
    fn a_drag_is_a_rectangle_in_any_direction_and_a_click_is_none() {
        let a = Point::new(6_000, 4_000);
        let b = Point::new(1_000, 1_000);
        assert_eq!(dragged(a, b), Some(rectangle(1_000, 1_000, 6_000, 4_000)));
        assert_eq!(dragged(a, Point::new(6_010, 4_010)), None);
    }

    #[test]
    fn names_and_numbers() {
        let zone = |name: &str| MotionZone {
            name: name.into(),
            points: rectangle(0, 0, 10, 10),
        };
        assert_eq!(free_name(&[]), "Zone 1");
        assert_eq!(free_name(&[zone("Zone 1"), zone("Zone 3")]), "Zone 2");
        assert_eq!(min_area_of("1"), Ok(100));
        assert_eq!(min_area_of(" 0.25 "), Ok(25));
        assert!(min_area_of("0").is_err());
        assert!(min_area_of("101").is_err());
        assert!(min_area_of("lots").unwrap_err().contains("\"lots\""));
        assert_eq!(sensitivity_of("50"), Ok(50));
        assert!(sensitivity_of("0").is_err());
        assert!(sensitivity_of("300").is_err());
        let mut settings = MotionSettings::default();
        settings.zones.push(zone("A"));
        assert_eq!(summary(&settings), "1 motion zone and 0 privacy masks");
    }
}
