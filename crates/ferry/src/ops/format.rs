//! Reading and writing durations and tables for operator commands.

/// A duration written for people: `850ms`, `12.3s`, `4m05s`, `2h10m`, `3d04h`.
pub fn human_ms(ms: u64) -> String {
    let s = ms / 1000;
    match ms {
        0..=999 => format!("{ms}ms"),
        1_000..=59_999 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m{:02}s", s / 60, s % 60),
        3_600_000..=86_399_999 => format!("{}h{:02}m", s / 3600, s / 60 % 60),
        _ => format!("{}d{:02}h", s / 86_400, s / 3600 % 24),
    }
}

/// Read an age such as `90s`, `5m`, `2h`, `1d`, `500ms` (a bare number is seconds), in ms.
pub fn parse_age(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale = match unit.trim() {
        "ms" => 1.0,
        "" | "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(format!("'{text}' is not a duration: write it as 500ms, 30s, 5m, 2h or 1d")),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok((n * scale).round() as u64),
        _ => Err(format!("'{text}' is not a duration: write it as 500ms, 30s, 5m, 2h or 1d")),
    }
}

/// Rows aligned in columns under `header`, each cell cut to `widest` characters.
pub fn table(header: &[&str], rows: &[Vec<String>], widest: usize) -> String {
    let cut = |s: &str| -> String {
        if s.chars().count() > widest {
            s.chars().take(widest.saturating_sub(1)).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cut(c)).collect()).collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        out += &line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_read_in_every_unit_and_nonsense_is_named() {
        assert_eq!(parse_age("500ms"), Ok(500));
        assert_eq!(parse_age("30"), Ok(30_000));
        assert_eq!(parse_age("1.5m"), Ok(90_000));
        assert_eq!(parse_age("2h"), Ok(7_200_000));
        assert_eq!(parse_age("1d"), Ok(86_400_000));
        for bad in ["", "5 minutes", "-3s", "m", "1.2.3s"] {
            assert!(parse_age(bad).unwrap_err().contains("not a duration"), "{bad}");
        }
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_ms(850), "850ms");
        assert_eq!(human_ms(12_340), "12.3s");
        assert_eq!(human_ms(245_000), "4m05s");
        assert_eq!(human_ms(7_800_000), "2h10m");
        assert_eq!(human_ms(273_600_000), "3d04h");
    }

    #[test]
    fn tables_align_and_cut() {
        let t = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()], vec!["abcdefgh".into(), "22".into()]], 5);
        assert_eq!(t, "A      BB\nxyz    1\nabcd…  22\n");
    }
}
