//! A grouped bar chart as SVG: one group per x label, one coloured bar per series, values printed.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::Chart;

/// Chart height in pixels; the width grows with the number of bars.
const HEIGHT: u32 = 520;
/// Pixels per bar, so values printed above bars do not overlap.
const BAR_PX: usize = 56;

/// A colour per contender name, the same in every chart.
fn colour(name: &str, i: usize) -> RGBColor {
    match name {
        "direct" => RGBColor(150, 150, 150),
        "rig" => RGBColor(31, 119, 180),
        "haproxy" => RGBColor(44, 160, 44),
        "nginx" => RGBColor(214, 39, 40),
        // Two hops: the mTLS contender in its one-hop colour, the plaintext twin lighter.
        "rig-mtls" => RGBColor(31, 119, 180),
        "rig-plaintext" => RGBColor(158, 202, 225),
        "haproxy-mtls" => RGBColor(44, 160, 44),
        "haproxy-plaintext" => RGBColor(161, 217, 155),
        "nginx-mtls" => RGBColor(214, 39, 40),
        _ => {
            let c = Palette99::pick(i).to_rgba();
            RGBColor(c.0, c.1, c.2)
        }
    }
}

fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn draw(chart: &Chart, path: &Path) -> anyhow::Result<()> {
    let groups = chart.groups.len().max(1);
    let n = chart.series.len().max(1);
    let width = (160 + groups * n * BAR_PX).clamp(640, 1600) as u32;
    let root = SVGBackend::new(path, (width, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let values = chart.series.iter().flat_map(|(_, v)| v.iter().copied());
    let (lo, hi) = values.fold((0.0_f64, 0.0_f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let hi = if hi > 0.0 { hi * 1.18 } else { 1.0 };
    let lo = if lo < 0.0 { lo * 1.18 } else { 0.0 };
    let mut c = ChartBuilder::on(&root)
        .caption(&chart.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..groups as f64, lo..hi)?;
    let names = chart.groups.clone();
    let label = move |x: &f64| {
        let i = x.floor() as usize;
        if (x.fract() - 0.5).abs() < 1e-6 {
            names.get(i).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(groups * 2 + 1)
        .x_label_formatter(&label)
        .x_label_style(("sans-serif", 15))
        .y_desc(chart.y_label.as_str())
        .y_label_style(("sans-serif", 13))
        .draw()?;
    let w = 0.8 / n as f64;
    for (s, (name, vals)) in chart.series.iter().enumerate() {
        let col = colour(name, s);
        let bars = vals.iter().enumerate().map(|(g, v)| {
            let x0 = g as f64 + 0.1 + s as f64 * w;
            Rectangle::new([(x0, 0.0), (x0 + w * 0.92, *v)], col.filled())
        });
        c.draw_series(bars)?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 12, y + 6)], col.filled()));
        let style = TextStyle::from(("sans-serif", 12).into_font())
            .pos(Pos::new(HPos::Center, VPos::Bottom));
        let texts = vals.iter().enumerate().map(|(g, v)| {
            let x = g as f64 + 0.1 + s as f64 * w + w * 0.46;
            Text::new(fmt_value(*v), (x, v.max(0.0)), style.clone())
        });
        c.draw_series(texts)?;
    }
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
