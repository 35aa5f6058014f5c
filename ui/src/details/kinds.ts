// The cluster's kinds, loaded once, to turn an owner reference's kind into a resource.
import { useEffect, useState } from "react";
import { kinds, type KindInfo } from "../ipc/resources";

let loaded: Promise<KindInfo[]> | null = null;

/** Every kind the app browses; empty until `kinds()` answers (or if it fails). */
export function useKinds(): readonly KindInfo[] {
  const [list, setList] = useState<readonly KindInfo[]>([]);
  useEffect(() => {
    let live = true;
    loaded ??= kinds().catch(() => {
      loaded = null;
      return [];
    });
    void loaded.then((found) => {
      if (live) setList(found);
    });
    return () => {
      live = false;
    };
  }, []);
  return list;
}
