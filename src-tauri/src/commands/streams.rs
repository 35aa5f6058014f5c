//! Command adapters for kubarium_app::streams.
