//! The smallest whole Ferry server, written as a user would write it: one
//! dependency (`ferrymcp`, here renamed `mcp`), components as plain functions.
//!
//! The attribute macros find the framework in this crate's `Cargo.toml` (under
//! any name), so nothing else is needed: no `serde`, no `schemars`, no alias.

use mcp::{prompt, resource, tool, Progress, Server, ToolError};
use std::time::Duration;

/// Count the words of a text, slowly: one progress step per word.
#[tool(task = "optional", read_only)]
pub async fn count_words(
    #[arg(description = "The text to count.")] text: String,
    #[arg(default, description = "Pause per word, in milliseconds.")] pause_ms: u64,
    progress: Progress,
) -> Result<usize, ToolError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Err(ToolError::new("the text has no words"));
    }
    for (i, word) in words.iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(pause_ms)).await;
        progress.step(i as u64 + 1, words.len() as u64, &format!("read \"{word}\"")).await;
    }
    Ok(words.len())
}

/// Ask for a summary of a text.
#[prompt]
pub fn summarize(#[arg(description = "The text to summarize.")] text: String) -> String {
    format!("Summarize in one sentence: {text}")
}

/// Notes about a topic.
#[resource(template = "notes://{topic}", mime_type = "text/plain")]
pub async fn notes(topic: String) -> String {
    format!("No notes on {topic} yet.")
}

/// The server.
pub fn server() -> Server {
    // Fixed components, checked by the tests: building cannot fail.
    Server::builder("quickstart", "1.0.0")
        .tool(count_words_tool())
        .prompt(summarize_prompt())
        .resource_template(notes_resource())
        .build()
        .expect("the quickstart components are valid")
}
