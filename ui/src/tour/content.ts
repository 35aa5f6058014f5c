// The tour's text, bundled from assets/lessons/00-tour.yaml and checked as it loads. Imported
// only when the tour starts, so the yaml parser stays out of the window's first load.
import { parse } from "yaml";
import { validateTour, type TourFile } from "./tour";

const FILES = import.meta.glob<string>("../../../assets/lessons/00-tour.yaml", {
  query: "?raw",
  import: "default",
  eager: true,
});

/** The tour, or why it cannot be shown. */
export function loadTour(): TourFile | Error {
  const [path, raw] = Object.entries(FILES)[0] ?? [];
  if (path === undefined || raw === undefined) return new Error("The tour file assets/lessons/00-tour.yaml is missing from this build.");
  try {
    return validateTour(parse(raw), path.replace(/^(\.\.\/)+/, ""));
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}
