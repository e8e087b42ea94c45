import { useId, useState, type ChangeEvent } from 'react';
import { api, messageFor, type UploadedMedia } from '../api';
import { ErrorNote } from '../ui';

export const IMAGE_ACCEPT = 'image/jpeg,image/png,image/webp,image/gif';
export const MEDIA_ACCEPT = `${IMAGE_ACCEPT},video/mp4,video/webm`;

/**
 * A file input next to a media URL field: choosing a file uploads it (POST /v1/media, the file as the body) and hands
 * the stored file to `onUploaded`, which fills the URL field; the field stays editable. The upload's progress and
 * outcome are announced in a live region; a refusal says what to do.
 */
export function MediaUpload({ label, accept, onUploaded }: { label: string; accept: string; onUploaded: (media: UploadedMedia) => void }) {
  const [uploading, setUploading] = useState<string | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const statusId = useId();
  const choose = async (e: ChangeEvent<HTMLInputElement>) => {
    const input = e.currentTarget;
    const file = input.files?.[0];
    if (!file) return;
    setUploading(file.name);
    setDone(null);
    setError(null);
    try {
      onUploaded(await api<UploadedMedia>('/v1/media', { method: 'POST', file }));
      setDone(`Uploaded ${file.name}: its URL is filled in.`);
    } catch (err) {
      setError(messageFor(err));
    } finally {
      setUploading(null);
      // choosing the same file again uploads it again (after a refusal, say)
      input.value = '';
    }
  };
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
            <progress aria-label={`Uploading ${uploading}`} /> Uploading {uploading}…
          </>
        )}
        {done}
      </p>
      {error && <ErrorNote>{error}</ErrorNote>}
    </div>
  );
}
