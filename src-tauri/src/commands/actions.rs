//! Command adapters for kubarium_app::actions.
