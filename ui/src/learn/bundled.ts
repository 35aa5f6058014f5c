// The lessons shipped with the app: every assets/lessons/*.yaml, bundled by Vite as text and
// read once. `00-tour.yaml` is the first-launch tour, not a lesson, and is skipped.
import { loadLessons } from "./loader";

const files: Record<string, string> = import.meta.glob<string>("../../../assets/lessons/*.yaml", {
  query: "?raw",
  import: "default",
  eager: true,
});

/** The bundled lesson files (path → text). */
export const LESSON_FILES: Readonly<Record<string, string>> = files;

/** The lessons that loaded, in file order, and the files that did not (shown on the Learn page). */
export const BUNDLED = loadLessons(files);
