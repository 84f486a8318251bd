// Generated from the Rust types by src-tauri (src/typescript.rs): do not edit.
// Regenerate: CORDON_WRITE_TS=1 cargo test --test typescript (in src-tauri)
import type { Review } from "./engine";

/**
 * The approval window's feed: the pending list and its generation.
 */
export type PendingFeed = {
/**
 * Pass it back as `seen` to wait for the next change.
 */
generation: number,
/**
 * The calls waiting now, each with its summary in words and a warning when its file
 * changed on disk since the hold.
 */
approvals: Array<Review>, };

/**
 * What a decision did, echoed to the front end.
 */
export type Decided = {
/**
 * The approval id.
 */
id: string,
/**
 * `approved` or `denied`.
 */
decision: "approved" | "denied",
/**
 * Whether the approval covers the rest of the session.
 */
session: boolean, };

/**
 * The user's update choice. The default (and anything unreadable) is off.
 */
export type UpdateSettings = {
/**
 * Check for a new version when the app starts (and ask before installing it).
 */
enabled: boolean, };

/**
 * What a check did, for the settings page and the log.
 */
export type CheckOutcome = { "outcome": "disabled" } | { "outcome": "up_to_date" } | { "outcome": "declined",
/**
 * The version offered.
 */
version: string, } | { "outcome": "installed",
/**
 * The version installed.
 */
version: string, };
