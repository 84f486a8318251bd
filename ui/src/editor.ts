// The policy editor: CodeMirror 6 with only what it needs (YAML highlighting, history, line
// numbers, lint markers pushed from the engine's validation). No basic-setup bundle.
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics } from "@codemirror/lint";
import { EditorState } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { columnOffset, toMarkers } from "./diagnostics";
import type { Diagnostic } from "./types";

/** What the settings page needs from the editor. */
export interface PolicyEditor {
  text(): string;
  /** Replaces the document (a file switch or a reload); clears the undo history. */
  load(text: string): void;
  /** Shows the diagnostics of the file `name`/`path` as markers. */
  mark(ds: Diagnostic[], name: string, path: string | null): void;
  /** Moves the cursor to a 1-based line and column and focuses the editor. */
  reveal(line: number | null, column: number | null): void;
  focus(): void;
}

export function createEditor(parent: HTMLElement, onChange: () => void, onSave: () => void, label: string): PolicyEditor {
  const extensions = [
    lineNumbers(),
    highlightActiveLineGutter(),
    history(),
    drawSelection(),
    indentOnInput(),
    bracketMatching(),
    highlightActiveLine(),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    yaml(),
    lintGutter(),
    EditorState.tabSize.of(2),
    keymap.of([
      { key: "Mod-s", run: () => (onSave(), true), preventDefault: true },
      ...defaultKeymap,
      ...historyKeymap,
      indentWithTab, // Escape then Tab leaves the editor (CodeMirror's tab-trap escape)
    ]),
    EditorView.contentAttributes.of({ "aria-label": label, "aria-describedby": "editor-hint" }),
    EditorView.updateListener.of((u) => {
      if (u.docChanged) onChange();
    }),
  ];
  const view = new EditorView({ parent, state: EditorState.create({ doc: "", extensions }) });
  return {
    text: () => view.state.doc.toString(),
    load(text: string) {
      view.setState(EditorState.create({ doc: text, extensions }));
    },
    mark(ds, name, path) {
      const markers = toMarkers(view.state.doc, ds, name, path);
      view.dispatch(setDiagnostics(view.state, markers));
    },
    reveal(line, column) {
      const doc = view.state.doc;
      const n = Math.min(Math.max(1, Math.floor(line ?? 1) || 1), doc.lines);
      const l = doc.line(n);
      const pos = l.from + columnOffset(l.text, column);
      view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
      view.focus();
    },
    focus: () => view.focus(),
  };
}
