//! Placeholder: HEAD declares this module but its file was never committed.
//! The real module is being written on main; on merge, take main's file.
