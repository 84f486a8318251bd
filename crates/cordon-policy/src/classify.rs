//! The classifier surface this crate uses, in one place.

pub use cordon_classify::{
    Classification, Classifier, CordonPaths, CustomMapping, KNOWN_RISK_TAGS, KNOWN_TOPICS,
    MappingError, TOPIC_PREFIX, ToolCall,
};
