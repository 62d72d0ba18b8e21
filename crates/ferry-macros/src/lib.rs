//! Attribute macros for Ferry (placeholder until the macros land).
use proc_macro::TokenStream;

/// Declare a tool from a function.
#[proc_macro_attribute]
pub fn tool(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Declare a prompt from a function.
#[proc_macro_attribute]
pub fn prompt(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
/// Declare a resource from a function.
#[proc_macro_attribute]
pub fn resource(_attr: TokenStream, item: TokenStream) -> TokenStream {
    item
}
