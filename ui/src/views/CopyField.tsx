import { useState } from "react";

/** Read-only text with a Copy button; says whether the copy worked. */
export function CopyField({ label, value, testId }: { label: string; value: string; testId: string }) {
  const [note, setNote] = useState<string | null>(null);
  async function copy() {
    try {
      await navigator.clipboard.writeText(value);
      setNote("Copied");
    } catch {
      setNote("Copy is not available here: select the text and copy it by hand");
    }
  }
  return (
    <div className="copy-field">
      <span className="field-label">{label}</span>
      <div className="copy-row">
        <code data-testid={testId}>{value}</code>
        <button type="button" onClick={() => void copy()}>
          Copy
        </button>
      </div>
      {note && (
        <span className="muted small" role="status">
          {note}
        </span>
      )}
    </div>
  );
}
