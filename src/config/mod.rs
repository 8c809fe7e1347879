pub mod alerts;
pub mod check;
pub mod error;
pub mod keymap;
pub mod settings;
pub mod sources;
pub mod theme;
