//! Append-only, hash-chained, signed evidence log of every governed tool call.
