//! Watch history and fan-out shared by the in-process backends.
