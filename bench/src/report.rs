//! Results: one Markdown file and one SVG chart per scenario under `bench/results/`.

/// A table of results with the chart drawn from it.
#[derive(Debug, Clone, Default)]
pub struct Section {
    pub title: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub chart: Option<Chart>,
    /// Lines printed under the table: targets met or missed, caveats.
    pub notes: Vec<String>,
}

/// A grouped bar chart: for each group (x), one bar per series.
#[derive(Debug, Clone, Default)]
pub struct Chart {
    pub title: String,
    pub y_label: String,
    pub groups: Vec<String>,
    /// `(series name, one value per group)`.
    pub series: Vec<(String, Vec<f64>)>,
}
