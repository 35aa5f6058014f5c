// Whether an element is on (or near) the screen, through one IntersectionObserver per scroll
// container, so a list of 1,000 node panels renders only the few in view and placeholders for
// the rest.
import { useEffect, useState, type RefObject } from "react";

type Callback = (visible: boolean, height: number) => void;

const callbacks = new WeakMap<Element, Callback>();
const observers = new Map<Element | null, IntersectionObserver>();

/**
 * The nearest ancestor that scrolls. The observer must use it as its root: a root margin only
 * widens the root, so with the viewport as root a panel clipped by the scrolling `<main>` would
 * count as hidden until it is actually on screen, and fast scrolling would show placeholders.
 */
function scrollParent(element: Element): Element | null {
  for (let node = element.parentElement; node; node = node.parentElement) {
    const overflow = getComputedStyle(node).overflowY;
    if (overflow === "auto" || overflow === "scroll") return node;
  }
  return null;
}

function observerFor(root: Element | null): IntersectionObserver {
  let observer = observers.get(root);
  if (!observer) {
    observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) {
          callbacks.get(entry.target)?.(entry.isIntersecting, entry.boundingClientRect.height);
        }
      },
      // Render a screen's worth ahead so scrolling rarely shows a placeholder.
      { root, rootMargin: "800px 0px" },
    );
    observers.set(root, observer);
  }
  return observer;
}

/** `{visible, height}`: height is the element's last size, for the placeholder that replaces it. */
export function useInView(ref: RefObject<Element | null>): { visible: boolean; height: number } {
  // Without IntersectionObserver there is nothing to measure with: draw everything.
  const [state, setState] = useState(() => ({ visible: typeof IntersectionObserver === "undefined", height: 0 }));
  useEffect(() => {
    const element = ref.current;
    if (!element || typeof IntersectionObserver === "undefined") return;
    callbacks.set(element, (visible, height) => {
      setState((s) => (s.visible === visible ? s : { visible, height: visible ? s.height : height }));
    });
    const observer = observerFor(scrollParent(element));
    observer.observe(element);
    return () => {
      observer.unobserve(element);
      callbacks.delete(element);
    };
  }, [ref]);
  return state;
}
