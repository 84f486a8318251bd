// The settings window's secrets page: keychain secrets by name (never their value), who uses
// them, storing, replacing and removing one.
import * as api from "../api";
import { attempt, button, byId, el, table } from "../dom";
import type { FieldError } from "../serverform";
import { secretNameError } from "../settingsmodel";
import type { SecretEntry } from "../types";
import { loadSecretNames } from "./servers";
import { badge, showFieldErrors, status } from "./shared";

let secrets: SecretEntry[] = [];
let confirmingSecret: string | null = null;

export async function loadSecrets(): Promise<void> {
  const list = await attempt(status, "Cannot list secrets", api.secretsList);
  if (list) {
    secrets = list;
    renderSecrets();
  }
}

function renderSecrets(): void {
  const box = byId("secrets");
  if (!secrets.length) {
    box.replaceChildren(el("p", "No secret is stored or referenced.", "muted"));
    return;
  }
  const rows = secrets.map((s) => {
    const actions = el("span", null, "row-actions");
    if (confirmingSecret === s.name) {
      actions.append(
        el("span", s.used_by.length ? `Remove ${s.name}? ${s.used_by.join(", ")} will fail to start.` : `Remove ${s.name}?`),
        button("Remove", () => void removeSecret(s.name), "danger"),
        button("Cancel", () => {
          confirmingSecret = null;
          renderSecrets();
        }),
      );
    } else {
      actions.append(
        button(s.stored ? "Replace…" : "Set…", () => {
          byId<HTMLInputElement>("sc-name").value = s.name;
          byId("secret-form-title").textContent = `${s.stored ? "Replace" : "Set"} ${s.name}`;
          byId<HTMLInputElement>("sc-value").focus();
        }, undefined, { "aria-label": `${s.stored ? "Replace" : "Set"} the value of ${s.name}` }),
        button("Remove", () => {
          confirmingSecret = s.name;
          renderSecrets();
        }, undefined, { "aria-label": `Remove ${s.name}`, disabled: !s.stored }),
      );
    }
    return [el("strong", s.name, "mono"), s.used_by.length ? s.used_by.join(", ") : "not used", badge(s.stored ? "stored" : "missing", s.stored ? "good" : "bad"), actions];
  });
  box.replaceChildren(table(["Name", "Used by", "Keychain", ""], rows));
}

async function removeSecret(name: string): Promise<void> {
  confirmingSecret = null;
  const list = await attempt(status, `Cannot remove ${name}`, () => api.secretRemove(name));
  if (list) {
    secrets = list;
    status.info(`Removed ${name} from the keychain.`);
    void loadSecretNames();
  }
  renderSecrets();
}

async function submitSecret(): Promise<void> {
  const form = byId("secret-form");
  const nameInput = byId<HTMLInputElement>("sc-name");
  const valueInput = byId<HTMLInputElement>("sc-value");
  const name = nameInput.value.trim();
  const errors: FieldError[] = [];
  const nameErr = secretNameError(name);
  if (nameErr) errors.push({ field: "sc-name", message: nameErr });
  if (valueInput.value === "") errors.push({ field: "sc-value", message: "a value is required" });
  showFieldErrors(form, errors);
  if (errors.length) return;
  // The value goes straight from the field to the command: the field is cleared before the call
  // and nothing else keeps it.
  const call = api.secretSet(name, valueInput.value);
  valueInput.value = "";
  try {
    secrets = await call;
    nameInput.value = "";
    byId("secret-form-title").textContent = "Store a secret";
    status.info(`Stored ${name} in the keychain.`);
    renderSecrets();
    void loadSecretNames();
  } catch (e) {
    status.error(e, `${name} not stored (type the value again)`);
  }
}

export function initSecrets(): void {
  byId("secret-form").addEventListener("submit", (e) => {
    e.preventDefault();
    void submitSecret();
  });
}
