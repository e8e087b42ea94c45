import { useId, useState, type ChangeEvent } from 'react';
import type { Static } from 'typebox';
import type { MediaPage } from '../../../src/contexts/media/media.schemas';
import { BusyButton } from '../actions';
import { api, ApiError, errorOf, formatDate, messageFor, type UploadedMedia } from '../api';
import { Empty, ErrorNote, Spinner, useApi } from '../ui';

export const IMAGE_ACCEPT = 'image/jpeg,image/png,image/webp,image/gif';
export const MEDIA_ACCEPT = `${IMAGE_ACCEPT},video/mp4,video/webm`;

type MediaPageT = Static<typeof MediaPage>;
type MediaItem = MediaPageT['items'][number];

/**
 * POST /v1/media with the file as the body, through XMLHttpRequest: unlike fetch, it reports how much of the body has
 * been sent (`onProgress` gets 0..1, or null when the browser cannot tell). Failures are ApiErrors, as api()'s are.
 */
function uploadFile(file: File, onProgress: (fraction: number | null) => void): Promise<UploadedMedia> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', '/v1/media');
    xhr.setRequestHeader('accept', 'application/json');
    xhr.setRequestHeader('content-type', file.type || 'application/octet-stream');
    xhr.upload.onprogress = (e) => onProgress(e.lengthComputable ? e.loaded / e.total : null);
    xhr.onload = () => {
      let body: unknown = xhr.responseText;
      try {
        if ((xhr.getResponseHeader('content-type') ?? '').includes('json')) body = JSON.parse(xhr.responseText);
      } catch {
        // not the JSON it claims: the status alone says what happened
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body as UploadedMedia);
      else reject(errorOf(new Response(null, { status: xhr.status }), body));
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', 'network error'));
    xhr.send(file);
  });
}

/** 1234567 → "1.2 MB" (decimal units, as file browsers show sizes). */
function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const [value, unit] = n < 1e6 ? [n / 1e3, 'kB'] : n < 1e9 ? [n / 1e6, 'MB'] : [n / 1e9, 'GB'];
  return `${value.toFixed(1)} ${unit}`;
}

/**
 * A file input next to a media URL field: choosing a file uploads it (POST /v1/media, the file as the body) and hands
 * the stored file to `onUploaded`, which fills the URL field; the field stays editable. The upload's progress (a real
 * percentage) and outcome are announced in a live region; a refusal says what to do. "Your uploads" below lists what
 * the account uploaded, to use one again or delete it.
 */
export function MediaUpload({ label, accept, onUploaded }: { label: string; accept: string; onUploaded: (media: UploadedMedia) => void }) {
  const [uploading, setUploading] = useState<{ name: string; fraction: number | null } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [uploads, setUploads] = useState(0);
  const statusId = useId();
  const choose = async (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    setUploading({ name: file.name, fraction: 0 });
    setDone(null);
    setError(null);
    try {
      onUploaded(await uploadFile(file, (fraction) => setUploading({ name: file.name, fraction })));
      setDone(`Uploaded ${file.name}: its URL is filled in.`);
      setUploads((n) => n + 1);
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setUploading(null);
      // choosing the same file again uploads it again (after a refusal, say)
      input.value = '';
    }
  };
  const percent = uploading?.fraction != null ? Math.round(uploading.fraction * 100) : null;
  return (
    <div className="media-upload">
      <label>
        {label}
        <input type="file" accept={accept} onChange={(e) => void choose(e)} disabled={uploading !== null} aria-describedby={statusId} />
      </label>
      {/* always in the page, so screen readers announce what appears in it */}
      <p id={statusId} role="status" aria-live="polite" className="hint">
        {uploading !== null && (
          <>
            <progress aria-label={`Uploading ${uploading.name}`} max={100} {...(percent !== null ? { value: percent } : {})} /> Uploading {uploading.name}…
            {percent !== null && ` ${percent}%`}
          </>
        )}
        {done}
      </p>
      {error && <ErrorNote>{error}</ErrorNote>}
      <YourUploads accept={accept} onUse={onUploaded} reloadKey={uploads} />
    </div>
  );
}

/**
 * The account's uploads (GET /v1/media, newest first), loaded when opened: use one in the form, or delete it
 * (DELETE /v1/media/{id}); a file a post or product still shows is kept, and the refusal says which.
 */
function YourUploads({ accept, onUse, reloadKey }: { accept: string; onUse: (media: UploadedMedia) => void; reloadKey: number }) {
  const [open, setOpen] = useState(false);
  const [deletes, setDeletes] = useState(0);
  const [busy, setBusy] = useState<string | null>(null);
  const [note, setNote] = useState<{ text: string; failed: boolean } | null>(null);
  const remove = async (item: MediaItem) => {
    setBusy(item.id);
    setNote(null);
    try {
      await api(`/v1/media/${item.id}`, { method: 'DELETE' });
      setNote({ text: 'Deleted the file.', failed: false });
      setDeletes((n) => n + 1);
    } catch (err) {
      setNote({ text: messageFor(err), failed: true });
    } finally {
      setBusy(null);
    }
  };
  return (
    <details onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>Your uploads</summary>
      {/* a new upload or a delete starts the list again from the newest */}
      {open && <UploadList key={`${reloadKey}/${deletes}`} accept={accept} onUse={onUse} onDelete={(item) => void remove(item)} busy={busy} />}
      {note && (note.failed ? <ErrorNote>{note.text}</ErrorNote> : <p role="status">{note.text}</p>)}
    </details>
  );
}

function UploadList({ accept, onUse, onDelete, busy }: { accept: string; onUse: (media: UploadedMedia) => void; onDelete: (item: MediaItem) => void; busy: string | null }) {
  const [cursor, setCursor] = useState<string | null>(null);
  const [earlier, setEarlier] = useState<MediaItem[]>([]);
  const { data, error, loading } = useApi<MediaPageT>(`/v1/media?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
  const items = [...earlier, ...(data?.items ?? [])];
  const thumb = { width: 48, height: 48, flex: 'none', objectFit: 'cover', borderRadius: 4, background: '#eee' } as const;
  return (
    <>
      {loading && <Spinner label="Loading your uploads…" />}
      {error && <ErrorNote>{error.message}</ErrorNote>}
      {data && (
        <p className="hint">
          {formatBytes(data.usedBytes)} of {formatBytes(data.quotaBytes)} used
        </p>
      )}
      {data && items.length === 0 && <Empty>Nothing uploaded yet.</Empty>}
      <ul aria-label="Your uploads" style={{ listStyle: 'none', padding: 0 }}>
        {items.map((item) => (
          <li key={item.id} style={{ display: 'flex', alignItems: 'center', gap: '0.5rem', margin: '0.5rem 0' }}>
            {item.contentType.startsWith('image/') ? (
              <img src={item.url} alt="" width={48} height={48} style={thumb} />
            ) : (
              <video src={item.url} muted preload="metadata" width={48} height={48} style={thumb} aria-hidden="true" />
            )}
            <span id={`${item.id}-about`} style={{ flex: '1 1 auto', minWidth: 0 }}>
              {item.contentType.replace(/^(image|video)\//, '').toUpperCase()}, {formatBytes(item.size)}
              <br />
              <span className="hint">{formatDate(item.createdAt)}</span>
            </span>
            {accept.split(',').includes(item.contentType) && (
              <button type="button" onClick={() => onUse(item)} aria-describedby={`${item.id}-about`}>
                Use
              </button>
            )}
            <BusyButton type="button" busy={busy === item.id} busyText="Deleting…" disabled={busy !== null} onClick={() => onDelete(item)} aria-describedby={`${item.id}-about`}>
              Delete
            </BusyButton>
          </li>
        ))}
      </ul>
      {data?.nextCursor && (
        <button
          type="button"
          onClick={() => {
            setEarlier(items);
            setCursor(data.nextCursor);
          }}
        >
          Show more
        </button>
      )}
    </>
  );
}
