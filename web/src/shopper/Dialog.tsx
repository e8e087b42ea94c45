import { useEffect, useId, useRef, type ReactNode } from 'react';

/** Open dialogs, innermost last: Escape and Tab belong to the innermost one. */
const stack: HTMLElement[] = [];

/**
 * A modal sheet: focus moves into it on open, Tab stays inside, Escape or the close button closes it, and focus
 * returns to what opened it.
 */
export function Dialog({ title, onClose, children, className = '' }: { title: string; onClose(): void; children: ReactNode; className?: string }) {
  const ref = useRef<HTMLDivElement>(null);
  const titleId = useId();
  const close = useRef(onClose);
  close.current = onClose;
  useEffect(() => {
    const opener = document.activeElement as HTMLElement | null;
    ref.current?.querySelector<HTMLElement>('[data-autofocus]')?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (stack[stack.length - 1] !== ref.current) return;
      if (e.key === 'Escape') {
        e.stopPropagation();
        close.current();
      }
      if (e.key !== 'Tab' || !ref.current) return;
      const focusables = [...ref.current.querySelectorAll<HTMLElement>('button:not([disabled]), [href], input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])')];
      const first = focusables[0];
      const last = focusables[focusables.length - 1];
      if (!first || !last) return;
      // focus that fell out of the dialog (a button that became disabled) comes back in
      if (!ref.current.contains(document.activeElement)) {
        e.preventDefault();
        first.focus();
      } else if (e.shiftKey && document.activeElement === first) {
        e.preventDefault();
        last.focus();
      } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
      }
    };
    const node = ref.current!;
    stack.push(node);
    // on the document, not the dialog: a button disabled while busy drops focus to <body>, Escape must still work
    document.addEventListener('keydown', onKey);
    document.body.classList.add('modal-open');
    return () => {
      document.removeEventListener('keydown', onKey);
      stack.splice(stack.indexOf(node), 1);
      document.body.classList.remove('modal-open');
      opener?.focus?.();
    };
  }, []);
  return (
    <div className="backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <div className={`sheet ${className}`} role="dialog" aria-modal="true" aria-labelledby={titleId} ref={ref}>
        <div className="sheet-head">
          <h2 id={titleId}>{title}</h2>
          <button type="button" className="close" onClick={onClose} aria-label="Close" data-autofocus>
            ×
          </button>
        </div>
        {children}
      </div>
    </div>
  );
}
