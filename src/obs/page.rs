//! The human status page at `/`: plain HTML and JavaScript, no external
//! assets, that fetches `/status` every second and fills two tables.

/// The page, served as is.
pub const HTML: &str = include_str!("page.html");

#[cfg(test)]
mod tests {
    use super::HTML;

    #[test]
    fn the_page_is_self_contained_and_polls_status() {
        assert!(HTML.contains("fetch(\"status\""));
        assert!(HTML.contains("setTimeout(loop, 1000)"));
        for external in ["http://", "https://", "<link ", "src=\""] {
            assert!(!HTML.contains(external), "external asset: {external}");
        }
        // Text from /status goes in with textContent only, never as HTML.
        assert!(!HTML.contains("innerHTML"));
    }
}
