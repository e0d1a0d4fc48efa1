//! The two chart shapes every figure uses, and the shared style: size, font, palette.

use std::path::Path;

use anyhow::{anyhow, Context};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::FontStyle;

/// Pixel size of every figure.
const SIZE: (u32, u32) = (1000, 620);
/// The font family registered from a TrueType file (plotters' `ab_glyph` backend).
const FONT: &str = "sans-serif";
const TITLE_PX: u32 = 26;
const LABEL_PX: u32 = 18;
const TICK_PX: u32 = 15;
/// Matplotlib's tab10: distinct, colour-blind-tolerable, familiar.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Where a TrueType font is looked for, after `CIPHERSCALE_FONT`.
const FONT_FILES: [&str; 5] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
];

/// The `index`-th palette colour, cycling.
pub fn colour(index: usize) -> RGBColor {
    PALETTE[index % PALETTE.len()]
}

/// Registers the font once per process: `CIPHERSCALE_FONT`, else the first of [`FONT_FILES`].
pub fn register_font() -> anyhow::Result<()> {
    static REGISTERED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    REGISTERED
        .get_or_init(|| load_font().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow!(e))
}

fn load_font() -> anyhow::Result<()> {
    let chosen = std::env::var_os("CIPHERSCALE_FONT").map(std::path::PathBuf::from);
    let path = match chosen {
        Some(path) => path,
        None => FONT_FILES
            .iter()
            .map(std::path::PathBuf::from)
            .find(|p| p.exists())
            .with_context(|| {
                format!(
                    "figures need a TrueType font: none of {} exists; install one \
                     (Debian: apt-get install fonts-dejavu-core) or set CIPHERSCALE_FONT to a .ttf file",
                    FONT_FILES.join(", ")
                )
            })?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("reading font {}", path.display()))?;
    // plotters keeps fonts for the whole process; the few hundred KB are leaked once.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FONT, FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{} is not a TrueType font", path.display()))
}

/// plotters' errors borrow nothing useful across threads; keep their text.
fn drawing<E: std::fmt::Display>(path: &Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow!("drawing {}: {e}", path.display())
}

/// One line, optionally with a shaded band (e.g. the spread over seeds).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    /// (x, low, high) triples drawn as a translucent area.
    pub band: Vec<(f64, f64, f64)>,
    pub dashed: bool,
    pub markers: bool,
}

impl Series {
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            ..Self::default()
        }
    }

    pub fn with_band(mut self, band: Vec<(f64, f64, f64)>) -> Self {
        self.band = band;
        self
    }

    pub fn with_markers(mut self) -> Self {
        self.markers = true;
        self
    }

    pub fn dashed(mut self) -> Self {
        self.dashed = true;
        self
    }
}

/// Lines over a numeric x axis; y optionally on a log10 scale.
#[derive(Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
    pub legend: Option<SeriesLabelPosition>,
}

impl LineChart {
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        Self {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            ..Self::default()
        }
    }

    pub fn log_y(mut self) -> Self {
        self.log_y = true;
        self
    }

    pub fn log_x(mut self) -> Self {
        self.log_x = true;
        self
    }

    pub fn series(mut self, series: Series) -> Self {
        self.series.push(series);
        self
    }

    /// Where the legend sits (upper right by default).
    pub fn legend_at(mut self, position: SeriesLabelPosition) -> Self {
        self.legend = Some(position);
        self
    }

    /// Draws the chart into `area` (a whole file or one panel of it).
    pub fn draw_on<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let no_points = || anyhow!("`{}` has no points", self.title);
        let x = axis(self.xs(), self.log_x).ok_or_else(no_points)?;
        let y = axis(self.ys(), self.log_y).ok_or_else(no_points)?;
        match (self.log_x, self.log_y) {
            (false, false) => self.plot(area, x, y),
            (false, true) => self.plot(area, x, y.log_scale()),
            (true, false) => self.plot(area, x.log_scale(), y),
            (true, true) => self.plot(area, x.log_scale(), y.log_scale()),
        }
    }

    /// Every x of the points and bands.
    fn xs(&self) -> Vec<f64> {
        let points = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0));
        let bands = self.series.iter().flat_map(|s| s.band.iter().map(|b| b.0));
        points.chain(bands).collect()
    }

    /// Every y of the points and bands.
    fn ys(&self) -> Vec<f64> {
        let points = self
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1));
        let bands = self
            .series
            .iter()
            .flat_map(|s| s.band.iter().flat_map(|b| [b.1, b.2]));
        points.chain(bands).collect()
    }

    fn plot<DB, X, Y>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
        x: X,
        y: Y,
    ) -> anyhow::Result<()>
    where
        DB: DrawingBackend,
        DB::ErrorType: 'static,
        X: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y: AsRangedCoord<Value = f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
        let integer_x = self
            .series
            .iter()
            .flat_map(|s| &s.points)
            .all(|p| p.0.fract() == 0.0);
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, TITLE_PX))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(78)
            .build_cartesian_2d(x, y)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .axis_desc_style((FONT, LABEL_PX))
            .label_style((FONT, TICK_PX))
            .y_label_formatter(&|v| human(*v))
            .x_label_formatter(&|v| match integer_x && v.fract() != 0.0 {
                true => String::new(),
                false => human(*v),
            })
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (i, series) in self.series.iter().enumerate() {
            let style = colour(i);
            if !series.band.is_empty() {
                let upper = series.band.iter().map(|&(x, _, hi)| (x, hi));
                let lower = series.band.iter().rev().map(|&(x, lo, _)| (x, lo));
                let outline: Vec<(f64, f64)> = upper.chain(lower).collect();
                chart
                    .draw_series(std::iter::once(Polygon::new(outline, style.mix(0.18))))
                    .map_err(err)?;
            }
            let points = series.points.clone();
            let line_style = style.stroke_width(2);
            let drawn = if series.dashed {
                chart.draw_series(DashedLineSeries::new(points.clone(), 8, 5, line_style))
            } else {
                chart.draw_series(LineSeries::new(points.clone(), line_style))
            }
            .map_err(err)?;
            drawn.label(&series.label).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 20, y)], style.stroke_width(2))
            });
            if series.markers {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, style.filled())))
                    .map_err(err)?;
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, TICK_PX))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .position(
                self.legend
                    .clone()
                    .unwrap_or(SeriesLabelPosition::UpperRight),
            )
            .draw()
            .map_err(err)?;
        Ok(())
    }

    /// Draws the chart alone into a PNG file.
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let area = BitMapBackend::new(path, SIZE).into_drawing_area();
        area.fill(&WHITE).map_err(drawing(path))?;
        self.draw_on(&area)
            .with_context(|| format!("drawing {}", path.display()))?;
        area.present().map_err(drawing(path))
    }
}

/// Draws `charts` side by side into one PNG file.
pub fn save_panels(path: &Path, charts: &[LineChart]) -> anyhow::Result<()> {
    let area = BitMapBackend::new(path, (SIZE.0, SIZE.1)).into_drawing_area();
    area.fill(&WHITE).map_err(drawing(path))?;
    for (panel, chart) in area.split_evenly((1, charts.len())).iter().zip(charts) {
        chart
            .draw_on(panel)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    area.present().map_err(drawing(path))
}

/// Draws `charts` one above the other into one PNG file (a shared time axis, say).
pub fn save_stacked(path: &Path, charts: &[LineChart]) -> anyhow::Result<()> {
    let height = 340 * charts.len().max(1) as u32;
    let area = BitMapBackend::new(path, (SIZE.0, height)).into_drawing_area();
    area.fill(&WHITE).map_err(drawing(path))?;
    for (panel, chart) in area.split_evenly((charts.len(), 1)).iter().zip(charts) {
        chart
            .draw_on(panel)
            .with_context(|| format!("drawing {}", path.display()))?;
    }
    area.present().map_err(drawing(path))
}

/// One horizontal bar with an interval (e.g. a 95% confidence interval).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub low: f64,
    pub high: f64,
    /// Palette index: bars of one kind share a colour.
    pub group: usize,
}

/// Horizontal bars, top to bottom in the given order, with interval whiskers.
#[derive(Debug, Clone, Default)]
pub struct BarChart {
    pub title: String,
    pub x_label: String,
    pub bars: Vec<Bar>,
}

impl BarChart {
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let height = (120 + 26 * self.bars.len() as u32).max(SIZE.1 / 2);
        let area = BitMapBackend::new(path, (SIZE.0, height)).into_drawing_area();
        area.fill(&WHITE).map_err(drawing(path))?;
        self.draw_on(&area)
            .with_context(|| format!("drawing {}", path.display()))?;
        area.present().map_err(drawing(path))
    }

    fn draw_on<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, plotters::coord::Shift>,
    ) -> anyhow::Result<()>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| anyhow!("{e}");
        let values = self.bars.iter().flat_map(|b| [b.low, b.high, b.value, 0.0]);
        let x_range = padded(values).context("no bars")?;
        let n = self.bars.len();
        // Row i (from the top) sits at y = n - 1 - i.
        let label_at = |v: f64| -> String {
            let row = v.round();
            let on_row = (v - row).abs() < 1e-6 && row >= 0.0 && (row as usize) < n;
            match on_row {
                true => self.bars[n - 1 - row as usize].label.clone(),
                false => String::new(),
            }
        };
        let mut chart = ChartBuilder::on(area)
            .caption(&self.title, (FONT, TITLE_PX))
            .margin(14)
            .x_label_area_size(48)
            .y_label_area_size(170)
            .build_cartesian_2d(x_range, -1.0..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .axis_desc_style((FONT, LABEL_PX))
            .label_style((FONT, TICK_PX))
            .y_labels(n + 2)
            .y_label_formatter(&|v| label_at(*v))
            .x_label_formatter(&|v| trim(*v))
            .disable_y_mesh()
            .light_line_style(WHITE)
            .draw()
            .map_err(err)?;
        for (i, bar) in self.bars.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let style = colour(bar.group);
            let rect = Rectangle::new([(0.0, y - 0.35), (bar.value, y + 0.35)], style.filled());
            let whisker = PathElement::new([(bar.low, y), (bar.high, y)], BLACK.stroke_width(2));
            let caps = [bar.low, bar.high]
                .map(|x| PathElement::new([(x, y - 0.2), (x, y + 0.2)], BLACK.stroke_width(2)));
            chart.draw_series(std::iter::once(rect)).map_err(err)?;
            chart.draw_series([whisker]).map_err(err)?;
            chart.draw_series(caps).map_err(err)?;
        }
        Ok(())
    }
}

/// The range of `values` padded by 5% each side (or by 1 when they are all equal).
/// The range an axis shows: the values padded, on a log axis in decades (positive values only).
fn axis(values: Vec<f64>, log: bool) -> Option<std::ops::Range<f64>> {
    if !log {
        return padded(values.into_iter());
    }
    let decades = padded(values.into_iter().filter(|&v| v > 0.0).map(f64::log10))?;
    Some(10f64.powf(decades.start)..10f64.powf(decades.end))
}

fn padded(values: impl Iterator<Item = f64>) -> Option<std::ops::Range<f64>> {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold(None, |acc: Option<(f64, f64)>, v| match acc {
            None => Some((v, v)),
            Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
        })?;
    let pad = if hi > lo { (hi - lo) * 0.05 } else { 1.0 };
    Some(lo - pad..hi + pad)
}

/// A tick label with SI suffixes for large values: 250, 2.5k, 60M.
fn human(v: f64) -> String {
    let magnitude = v.abs();
    match magnitude {
        m if m >= 1e9 => format!("{}G", trim(v / 1e9)),
        m if m >= 1e6 => format!("{}M", trim(v / 1e6)),
        m if m >= 1e4 => format!("{}k", trim(v / 1e3)),
        _ => trim(v),
    }
}

/// A number without trailing zeros: 2, 2.5, 0.125.
fn trim(v: f64) -> String {
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_read_as_plain_numbers() {
        assert_eq!(trim(2.0), "2");
        assert_eq!(trim(2.5), "2.5");
        assert_eq!(trim(-0.0001), "0");
        assert_eq!(human(250.0), "250");
        assert_eq!(human(25_000.0), "25k");
        assert_eq!(human(6e8), "600M");
    }

    #[test]
    fn ranges_are_padded_and_ignore_non_finite_values() {
        assert_eq!(padded([1.0, 3.0, f64::NAN].into_iter()), Some(0.9..3.1));
        assert_eq!(padded([2.0].into_iter()), Some(1.0..3.0));
        assert_eq!(padded(std::iter::empty()), None);
    }
}
