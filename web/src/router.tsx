import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from 'react';

// A minimal History-API router: the app has a handful of routes and no nested layouts, a library would cost more
// bytes than it saves.
const listeners = new Set<() => void>();

// Scroll positions as browsers keep them for normal pages: a new visit starts at the top, back and forward put the
// page where it was left. Each history entry carries a key (`history.state.key`); the position is read when the
// entry is left. The browser's own restoration would act before the page is rendered again, so it is switched off and
// done here once the page is tall enough (its data may still be loading). The positions are kept in sessionStorage
// (the tab's, as history.state is), so a reload keeps the place too, and so does back after it.
history.scrollRestoration = 'manual';
const POSITIONS_KEY = 'feedshop.scroll';
const KEPT_POSITIONS = 100;
const positions = new Map<string, number>(readStored());
function readStored(): [string, number][] {
  try {
    const kept: unknown = JSON.parse(sessionStorage.getItem(POSITIONS_KEY) ?? '[]');
    return Array.isArray(kept) ? kept.filter((e): e is [string, number] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'number') : [];
  } catch {
    return [];
  }
}
/** Records where the entry's page was left, in memory and in the tab's storage (the newest 100 entries). */
function keepPosition(key: string, y: number): void {
  positions.delete(key);
  positions.set(key, y);
  for (const k of positions.keys()) if (positions.size > KEPT_POSITIONS) positions.delete(k);
  try {
    sessionStorage.setItem(POSITIONS_KEY, JSON.stringify([...positions]));
  } catch {
    // storage full or refused (private mode): back and forward still work until a reload
  }
}
const newKey = (): string => Math.random().toString(36).slice(2);
const keyOfState = (): string | null => {
  const k = (history.state as { key?: unknown } | null)?.key;
  return typeof k === 'string' ? k : null;
};
function stampEntry(): string {
  const k = newKey();
  history.replaceState({ ...(history.state as object | null), key: k }, '');
  return k;
}
let entry = keyOfState() ?? stampEntry();
let stopRestoring = (): void => {};

/** The current history entry's key: what a page keeps for a return to this entry is kept under it (the feed's pages). */
export const currentEntry = (): string => entry;

/** Where the current entry's page was left (0 for a new visit): a page that renders kept data at once scrolls there first. */
export const savedScroll = (): number => positions.get(entry) ?? 0;

/** The current entry's page shows other content than when it was left (a feed too old to show again): start at the top. */
export function startAtTop(): void {
  stopRestoring();
  keepPosition(entry, 0);
  window.scrollTo(0, 0);
}

export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  stopRestoring();
  keepPosition(entry, window.scrollY);
  // a replaced entry keeps its key: the same place in history (a filter in the address), not a new visit
  if (opts.replace) history.replaceState({ key: entry }, '', to);
  else history.pushState({ key: (entry = newKey()) }, '', to);
  for (const l of listeners) l();
  window.scrollTo(0, 0);
}

window.addEventListener('popstate', () => {
  stopRestoring();
  // still the left page's position: with manual restoration nothing has scrolled yet
  keepPosition(entry, window.scrollY);
  entry = keyOfState() ?? stampEntry();
  for (const l of listeners) l();
  restore(savedScroll());
});

// a reload (or a return from another site) keeps the entry's key in history.state: its place is taken as on back
window.addEventListener('pagehide', () => keepPosition(entry, window.scrollY));
const arrival = (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming | undefined)?.type;
if (arrival === 'reload' || arrival === 'back_forward') restore(savedScroll());

/**
 * Scrolls to `y` as the page grows (its data arriving, a lazy chunk), for a few seconds or until the person scrolls,
 * taps or types. Each resize of the document tries again, so a page that is still loading ends up at its place too.
 */
function restore(y: number): void {
  if (y <= 0) return window.scrollTo(0, 0);
  const apply = () => window.scrollTo(0, Math.min(y, document.documentElement.scrollHeight - window.innerHeight));
  const resized = new ResizeObserver(apply);
  resized.observe(document.documentElement);
  const frame = requestAnimationFrame(apply);
  const timer = setTimeout(() => stopRestoring(), 4000);
  const input = ['wheel', 'touchstart', 'keydown', 'pointerdown'] as const;
  stopRestoring = () => {
    resized.disconnect();
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    for (const e of input) window.removeEventListener(e, stopRestoring, true);
    stopRestoring = () => {};
  };
  for (const e of input) window.addEventListener(e, stopRestoring, { capture: true, passive: true });
}

export interface Location {
  path: string;
  query: URLSearchParams;
  /** The history entry shown (currentEntry()): a page keyed by it is fresh on a new visit to the same path. */
  entry: string;
}

export function useLocation(): Location {
  const read = () => ({ path: location.pathname, query: new URLSearchParams(location.search), entry });
  const [loc, setLoc] = useState<Location>(read);
  useEffect(() => {
    const l = () => setLoc(read());
    listeners.add(l);
    return () => void listeners.delete(l);
  }, []);
  return loc;
}

export function Link({ to, onClick, ...rest }: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}
