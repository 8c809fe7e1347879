pub mod error;
pub mod keymap;
pub mod theme;
