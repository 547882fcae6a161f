//! Pool choice and cool-down.
