//! Command adapters for kubarium_app::resources.
