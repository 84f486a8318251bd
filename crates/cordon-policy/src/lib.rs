//! Cordon's policy-as-code language: parsing with locations, evaluation, policy tests.
