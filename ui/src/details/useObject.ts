// One object, live: the details page's source of truth, pushed by a backend watch.
import { useEffect, useState } from "react";
import type { AppError } from "../ipc";
import { stopStream, watchObject, type WatchState } from "../ipc/resources";
import { asAppError } from "../state/resources";
import type { KubeObject } from "./describe";

/** What the page knows of its object. */
export interface ObjectState {
  /** The latest version; kept after deletion so the page can still show what it was. */
  readonly object: KubeObject | null;
  readonly deleted: boolean;
  readonly state: WatchState;
  readonly error: AppError | null;
}

const INITIAL: ObjectState = { object: null, deleted: false, state: "syncing", error: null };

/** Watches one object while the component is mounted; stops the watch when it leaves. */
export function useObject(cluster: string, resource: string, namespace: string | null, name: string): ObjectState {
  const key = `${cluster}\u0000${resource}\u0000${namespace ?? ""}\u0000${name}`;
  const [current, setCurrent] = useState<{ key: string; state: ObjectState }>({ key, state: INITIAL });

  useEffect(() => {
    let stopped = false;
    const update = (change: (state: ObjectState) => ObjectState) => {
      if (stopped) return;
      setCurrent((prev) => ({ key, state: change(prev.key === key ? prev.state : INITIAL) }));
    };
    const stream = watchObject(cluster, resource, namespace, name, (message) => {
      switch (message.type) {
        case "object":
          update(() => ({ object: message.object, deleted: false, state: "live", error: null }));
          break;
        case "deleted":
          update((s) => ({ ...s, deleted: true, state: "live" }));
          break;
        case "state":
          update((s) => ({ ...s, state: message.state, error: message.error }));
          break;
      }
    }).catch((error: unknown) => {
      update((s) => ({ ...s, state: "reconnecting", error: asAppError(error) }));
      return null;
    });
    return () => {
      stopped = true;
      void stream.then((id) => (id === null ? undefined : stopStream(id)));
    };
  }, [key, cluster, resource, namespace, name]);

  return current.key === key ? current.state : INITIAL;
}
