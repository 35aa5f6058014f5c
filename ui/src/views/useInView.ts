// Whether an element is on (or near) the screen, through one shared IntersectionObserver, so a
// list of 1,000 node panels renders only the few in view and placeholders for the rest.
import { useEffect, useState, type RefObject } from "react";

type Callback = (visible: boolean, height: number) => void;

const callbacks = new WeakMap<Element, Callback>();
let observer: IntersectionObserver | null = null;

function shared(): IntersectionObserver {
  observer ??= new IntersectionObserver(
    (entries) => {
      for (const entry of entries) {
        callbacks.get(entry.target)?.(entry.isIntersecting, entry.boundingClientRect.height);
      }
    },
    // Render a screen's worth ahead so fast scrolling rarely shows a placeholder.
    { rootMargin: "800px 0px" },
  );
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
    const io = shared();
    io.observe(element);
    return () => {
      io.unobserve(element);
      callbacks.delete(element);
    };
  }, [ref]);
  return state;
}
