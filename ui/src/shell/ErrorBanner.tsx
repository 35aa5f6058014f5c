// The one way views show a failure: the AppError's message, its field causes, and a dismiss
// button. Every view that shows an error uses it so the e2e finds them all by `error-banner`.
import { asAppError } from "../state/resources";
import "./banner.css";

interface Props {
  /** What failed; an `AppError`, or anything a rejected promise gave (wrapped as `local`). */
  error: unknown;
  /** Shown bold before the message, e.g. "Could not scale web". */
  title?: string;
  /** Renders a dismiss button calling this; without it the banner stays until the error goes. */
  onDismiss?: () => void;
  /** `warning` for a condition the app is recovering from by itself (a watch reconnecting). */
  tone?: "error" | "warning";
}

/** A failure, said in words a person can act on, with the fields the API server rejected. */
export function ErrorBanner({ error, title, onDismiss, tone = "error" }: Props) {
  const appError = asAppError(error);
  return (
    <div className={`error-banner error-banner-${tone}`} role="alert" data-testid="error-banner">
      <div className="error-banner-text">
        {title && <strong>{title}: </strong>}
        <span className="error-banner-message">{appError.message}</span>
        {appError.causes.length > 0 && (
          <ul className="error-banner-causes">
            {appError.causes.map((cause, i) => (
              <li key={`${cause.field}-${String(i)}`} data-field={cause.field}>
                {cause.field && <code>{cause.field}</code>} {cause.message}
              </li>
            ))}
          </ul>
        )}
      </div>
      {onDismiss && (
        <button
          type="button"
          className="error-banner-dismiss"
          aria-label="Dismiss this message"
          onClick={onDismiss}
        >
          ×
        </button>
      )}
    </div>
  );
}
