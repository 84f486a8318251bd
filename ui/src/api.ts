// Thin wrappers over the shell's commands (the approval window's capability allows exactly these).
import { invoke } from "@tauri-apps/api/core";
import type { Decided, PendingApproval } from "./types";

export const listPending = (): Promise<PendingApproval[]> => invoke("list_pending");
export const getApproval = (id: string): Promise<PendingApproval> => invoke("get_approval", { id });
export const approve = (id: string, session: boolean): Promise<Decided> => invoke("approve", { id, session });
export const deny = (id: string, reason: string | null): Promise<Decided> => invoke("deny", { id, reason });
