// mountTerminal's wiring, against a stand-in xterm (no DOM here): input comes out as bytes,
// binary input byte for byte, resizes are reported, the pane's size is followed, and dispose
// removes every listener.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

type Listener<T> = (value: T) => void;

class FakeTerminal {
  static last: FakeTerminal | null = null;
  cols = 80;
  rows = 24;
  disposed = false;
  fits = 0;
  readonly listeners = { data: new Set<Listener<string>>(), binary: new Set<Listener<string>>(), resize: new Set<Listener<{ cols: number; rows: number }>>() };
  readonly written: string[] = [];
  constructor(readonly options: Record<string, unknown>) {
    FakeTerminal.last = this;
  }
  loadAddon(addon: { activate: (t: FakeTerminal) => void }): void {
    addon.activate(this);
  }
  open(): void {}
  write(text: string): void {
    this.written.push(text);
  }
  private on<T>(set: Set<Listener<T>>, f: Listener<T>): { dispose: () => void } {
    set.add(f);
    return { dispose: () => set.delete(f) };
  }
  onData(f: Listener<string>) {
    return this.on(this.listeners.data, f);
  }
  onBinary(f: Listener<string>) {
    return this.on(this.listeners.binary, f);
  }
  onResize(f: Listener<{ cols: number; rows: number }>) {
    return this.on(this.listeners.resize, f);
  }
  dispose(): void {
    this.disposed = true;
  }
}

vi.mock("@xterm/xterm", () => ({ Terminal: FakeTerminal }));
vi.mock("@xterm/xterm/css/xterm.css", () => ({}));
vi.mock("@xterm/addon-fit", () => ({
  FitAddon: class {
    term: FakeTerminal | null = null;
    activate(t: FakeTerminal): void {
      this.term = t;
    }
    fit(): void {
      if (this.term) this.term.fits += 1;
    }
  },
}));

const observers: { callback: () => void; disconnected: boolean }[] = [];
beforeEach(() => {
  observers.length = 0;
  vi.stubGlobal(
    "ResizeObserver",
    class {
      entry: { callback: () => void; disconnected: boolean };
      constructor(callback: () => void) {
        this.entry = { callback, disconnected: false };
        observers.push(this.entry);
      }
      observe(): void {}
      disconnect(): void {
        this.entry.disconnected = true;
      }
    },
  );
});
afterEach(() => {
  vi.unstubAllGlobals();
});

const { mountTerminal, writeExit } = await import("./terminal");

function mount(options: { convertEol?: boolean } = {}) {
  const input: number[][] = [];
  const sizes: [number, number][] = [];
  const mounted = mountTerminal(
    {} as HTMLElement,
    { onInput: (bytes) => input.push([...bytes]), onResize: (c, r) => sizes.push([c, r]) },
    options,
  );
  const fake = FakeTerminal.last;
  if (!fake) throw new Error("no terminal was made");
  return { mounted, fake, input, sizes };
}

describe("mountTerminal", () => {
  it("sends typed text as UTF-8 and binary input byte for byte", () => {
    const { fake, input } = mount();
    for (const f of fake.listeners.data) f("é\r");
    for (const f of fake.listeners.binary) f("\x00\xff");
    expect(input).toEqual([[0xc3, 0xa9, 0x0d], [0x00, 0xff]]);
  });

  it("reports resizes and fits the pane when it changes size", () => {
    const { fake, sizes } = mount();
    expect(fake.fits).toBe(1);
    observers[0]?.callback();
    expect(fake.fits).toBe(2);
    for (const f of fake.listeners.resize) f({ cols: 100, rows: 30 });
    expect(sizes).toEqual([[100, 30]]);
  });

  it("converts bare line feeds only when asked (no TTY)", () => {
    expect(mount().fake.options.convertEol).toBe(false);
    expect(mount({ convertEol: true }).fake.options.convertEol).toBe(true);
  });

  it("removes every listener, the observer and the terminal on dispose", () => {
    const { mounted, fake } = mount();
    mounted.dispose();
    expect(fake.listeners.data.size + fake.listeners.binary.size + fake.listeners.resize.size).toBe(0);
    expect(observers[0]?.disconnected).toBe(true);
    expect(fake.disposed).toBe(true);
  });

  it("writes a session's end dimmed on its own line", () => {
    const { fake } = mount();
    writeExit(fake as never, "exit code 0");
    expect(fake.written).toEqual(["\r\n\x1b[2m[exit code 0]\x1b[0m\r\n"]);
  });
});
