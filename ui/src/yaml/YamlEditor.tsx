// The YAML editor: CodeMirror 6 with YAML highlighting, line numbers, search (Ctrl+F) and
// problems shown at their place (lint diagnostics). Colours come from the app's CSS
// variables, so it follows the light and dark themes.
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { yaml } from "@codemirror/lang-yaml";
import { HighlightStyle, bracketMatching, foldGutter, indentOnInput, syntaxHighlighting } from "@codemirror/language";
import { lintGutter, setDiagnostics, type Diagnostic } from "@codemirror/lint";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import { Compartment, EditorState } from "@codemirror/state";
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from "@codemirror/view";
import { tags } from "@lezer/highlight";
import { useEffect, useImperativeHandle, useRef } from "react";
import type { Problem } from "./paths";
import { minimalChange } from "./text";
import "./yaml.css";

const highlight = HighlightStyle.define([
  { tag: [tags.propertyName, tags.definition(tags.propertyName)], color: "var(--accent)" },
  { tag: [tags.string, tags.special(tags.string)], color: "var(--ok)" },
  { tag: [tags.number, tags.bool, tags.null], color: "var(--warn)" },
  { tag: [tags.comment, tags.lineComment], color: "var(--muted)", fontStyle: "italic" },
  { tag: [tags.meta, tags.keyword, tags.typeName, tags.labelName], color: "var(--bad)" },
  { tag: [tags.separator, tags.punctuation], color: "var(--muted)" },
]);

const theme = EditorView.theme({
  "&": { backgroundColor: "var(--panel)", color: "var(--text)", height: "100%" },
  ".cm-content": { caretColor: "var(--text)", fontFamily: "var(--mono, ui-monospace, monospace)" },
  ".cm-cursor, .cm-dropCursor": { borderLeftColor: "var(--text)" },
  ".cm-gutters": { backgroundColor: "var(--code-bg)", color: "var(--muted)", borderRight: "1px solid var(--border)" },
  ".cm-activeLine": { backgroundColor: "color-mix(in srgb, var(--accent-soft) 40%, transparent)" },
  ".cm-activeLineGutter": { backgroundColor: "var(--accent-soft)" },
  "&.cm-focused .cm-selectionBackground, .cm-selectionBackground, ::selection": {
    backgroundColor: "color-mix(in srgb, var(--accent) 30%, transparent)",
  },
  ".cm-panels": { backgroundColor: "var(--sidebar)", color: "var(--text)" },
  ".cm-panels input, .cm-panels button": { color: "var(--text)" },
  ".cm-searchMatch": { backgroundColor: "color-mix(in srgb, var(--warn) 35%, transparent)" },
  ".cm-tooltip": { backgroundColor: "var(--panel)", color: "var(--text)", border: "1px solid var(--border)" },
});

/** What the editor is for: its text, how it reports edits, and the problems to show. */
export interface YamlEditorProps {
  readonly value: string;
  readonly onChange: (text: string) => void;
  /** Underlined in the text and marked in the gutter. */
  readonly problems: readonly Problem[];
  readonly readOnly?: boolean;
  /** Names the editor for screen readers. */
  readonly label: string;
  /** Receives a handle to move the editor's selection (the problem list's links). */
  readonly ref?: React.Ref<EditorHandle>;
}

/** What the page may do to the editor from outside. */
export interface EditorHandle {
  /** Selects `from`–`to`, scrolls it into view and focuses the editor. */
  readonly select: (from: number, to: number) => void;
}

function diagnostics(problems: readonly Problem[], length: number): Diagnostic[] {
  return problems.map((problem) => {
    const from = Math.min(Math.max(problem.from, 0), length);
    const to = Math.min(Math.max(problem.to, from), length);
    return {
      from,
      to,
      severity: problem.severity,
      message: problem.exact ? problem.message : `${problem.message} (the field is missing here)`,
    };
  });
}

/** A YAML editor. The text is the caller's state: edits come back through `onChange`. */
export function YamlEditor({ value, onChange, problems, readOnly = false, label, ref }: YamlEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const changed = useRef(onChange);
  const editable = useRef(new Compartment());

  useEffect(() => {
    changed.current = onChange;
  }, [onChange]);

  useImperativeHandle(
    ref,
    () => ({
      select: (from, to) => {
        const current = view.current;
        if (!current) return;
        const length = current.state.doc.length;
        const anchor = Math.min(from, length);
        current.dispatch({
          selection: { anchor, head: Math.min(Math.max(to, anchor), length) },
          effects: EditorView.scrollIntoView(anchor, { y: "center" }),
        });
        current.focus();
      },
    }),
    [],
  );

  // The view is created once; later props reach it through transactions below.
  useEffect(() => {
    if (!host.current) return undefined;
    const created = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          lineNumbers(),
          highlightActiveLineGutter(),
          foldGutter(),
          lintGutter(),
          history(),
          drawSelection(),
          indentOnInput(),
          bracketMatching(),
          highlightActiveLine(),
          highlightSelectionMatches(),
          search({ top: true }),
          keymap.of([...defaultKeymap, ...historyKeymap, ...searchKeymap, indentWithTab]),
          yaml(),
          syntaxHighlighting(highlight),
          theme,
          editable.current.of(EditorState.readOnly.of(readOnly)),
          EditorView.contentAttributes.of({ "aria-label": label }),
          EditorView.editorAttributes.of({ "data-testid": "yaml-editor" }),
          EditorView.updateListener.of((update) => {
            if (update.docChanged) changed.current(update.state.doc.toString());
          }),
          EditorView.domEventHandlers({
            // A dropped file replaces the text (CodeMirror alone would insert it at the drop).
            drop(event, target) {
              const files = event.dataTransfer?.files;
              if (!files || files.length === 0) return false;
              event.preventDefault();
              void Promise.all([...files].map((file) => file.text())).then((texts) => {
                const text = texts.map((t) => t.replace(/\n*$/, "\n")).join("---\n");
                target.dispatch({ changes: { from: 0, to: target.state.doc.length, insert: text } });
              });
              return true;
            },
          }),
        ],
      }),
    });
    view.current = created;
    return () => {
      created.destroy();
      view.current = null;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps -- created once; see the effects below
  }, []);

  useEffect(() => {
    const current = view.current;
    if (!current) return;
    const change = minimalChange(current.state.doc.toString(), value);
    // Only the part that differs is replaced, so a live object's update keeps the reader's
    // scroll position and cursor.
    if (change) current.dispatch({ changes: change });
  }, [value]);

  useEffect(() => {
    view.current?.dispatch({ effects: editable.current.reconfigure(EditorState.readOnly.of(readOnly)) });
  }, [readOnly]);

  useEffect(() => {
    const current = view.current;
    if (!current) return;
    current.dispatch(setDiagnostics(current.state, diagnostics(problems, current.state.doc.length)));
  }, [problems]);

  return <div className="yaml-editor" ref={host} />;
}
