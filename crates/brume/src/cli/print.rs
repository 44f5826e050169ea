//! Printing the server's Table output the way kubectl does: upper-case headers, columns padded
//! to their widest cell and separated by three spaces; wide columns only with `-o wide`.

use serde_json::Value;

fn cell_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

/// Renders a `meta.k8s.io/v1` Table. `namespace` adds a NAMESPACE column from each row's object.
pub fn format_table(table: &Value, wide: bool, namespace: bool) -> String {
    let empty = Vec::new();
    let columns = table["columnDefinitions"].as_array().unwrap_or(&empty);
    let shown: Vec<usize> = columns
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, _)| i)
        .collect();
    let mut grid: Vec<Vec<String>> = Vec::new();
    let mut header: Vec<String> = Vec::new();
    if namespace {
        header.push("NAMESPACE".into());
    }
    header.extend(
        shown
            .iter()
            .map(|&i| columns[i]["name"].as_str().unwrap_or("").to_uppercase()),
    );
    grid.push(header);
    for row in table["rows"].as_array().unwrap_or(&empty) {
        let cells = row["cells"].as_array().unwrap_or(&empty);
        let mut line = Vec::new();
        if namespace {
            line.push(
                row.pointer("/object/metadata/namespace")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            );
        }
        line.extend(
            shown
                .iter()
                .map(|&i| cells.get(i).map(cell_text).unwrap_or_default()),
        );
        grid.push(line);
    }
    let widths: Vec<usize> = (0..grid[0].len())
        .map(|c| grid.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &grid {
        let last = row.len().saturating_sub(1);
        for (c, text) in row.iter().enumerate() {
            out.push_str(text);
            if c < last {
                out.push_str(&" ".repeat(widths[c] - text.chars().count() + 3));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tables_print_like_kubectl() {
        let t = json!({
            "columnDefinitions": [
                {"name": "Name", "priority": 0}, {"name": "Ready", "priority": 0}, {"name": "IP", "priority": 1}],
            "rows": [
                {"cells": ["web-1", "1/1", "10.0.0.1"], "object": {"metadata": {"namespace": "default"}}},
                {"cells": ["db", "0/1", null], "object": {"metadata": {"namespace": "prod"}}}]
        });
        assert_eq!(
            format_table(&t, false, false),
            "NAME    READY\nweb-1   1/1\ndb      0/1\n"
        );
        assert_eq!(
            format_table(&t, true, true),
            "NAMESPACE   NAME    READY   IP\ndefault     web-1   1/1     10.0.0.1\nprod        db      0/1     <none>\n"
        );
    }
}
