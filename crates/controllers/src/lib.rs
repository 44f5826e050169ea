//! The controllers (being written).
