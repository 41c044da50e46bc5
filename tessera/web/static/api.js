// The REST API as the console uses it: JSON calls with fetch, photo uploads with XMLHttpRequest
// (fetch cannot report upload progress), every failure turned into an ApiError with a reason code.

export class ApiError extends Error {
  constructor({ status = 0, code = "network", message = "", detail = null }) {
    super(message || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
  }

  /** True when the request may never have reached the server, so sending it again is the fix. */
  get retryable() {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

function parse(status, text) {
  let body = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      throw new ApiError({ status, code: status >= 500 ? "unavailable" : "not_json", message: text.slice(0, 200) });
    }
  }
  if (status >= 200 && status < 300) return body;
  const error = (body && body.error) || {};
  throw new ApiError({ status, code: error.code || `http_${status}`, message: error.message || "", detail: error.detail || null });
}

/** A random Idempotency-Key; the same key is sent again on every retry of one request. */
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Api {
  constructor(key, { timeoutMs = 30000, uploadTimeoutMs = 120000, retryDelaysMs = [1500, 4000] } = {}) {
    this.key = key;
    this.timeoutMs = timeoutMs;
    this.uploadTimeoutMs = uploadTimeoutMs;
    this.retryDelaysMs = retryDelaysMs;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.key}`, ...extra };
  }

  /** One JSON call. `idempotencyKey` makes an automatic retry safe; without it nothing is retried. */
  async call(method, path, { json, idempotencyKey } = {}) {
    const headers = this.headers(json === undefined ? {} : { "Content-Type": "application/json" });
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    const attempts = idempotencyKey ? this.retryDelaysMs.length + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, headers, json === undefined ? undefined : JSON.stringify(json));
      } catch (error) {
        if (!(error instanceof ApiError) || !error.retryable || attempt >= attempts) throw error;
        await wait(this.retryDelaysMs[attempt - 1]);
      }
    }
  }

  async once(method, path, headers, body) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.timeoutMs);
    let response;
    try {
      // no-store: answers about people must not be left in the browser's HTTP cache.
      response = await fetch(path, { method, headers, body, cache: "no-store", credentials: "omit", signal: abort.signal });
    } catch (error) {
      throw new ApiError({ code: abort.signal.aborted ? "timeout" : "network", message: String(error) });
    } finally {
      clearTimeout(timer);
    }
    return parse(response.status, await response.text());
  }

  /**
   * POST a multipart form holding a photo, reporting progress as a fraction (0-1) of the bytes sent.
   * With `retry` (only for routes that honour the Idempotency-Key) a lost connection is retried
   * automatically with the same key, so the server replays its first answer instead of enrolling twice.
   */
  async upload(path, fields, photo, { onProgress = () => {}, onRetry = () => {}, idempotencyKey, retry = false, photoField = "image" } = {}) {
    const attempts = retry && idempotencyKey ? this.retryDelaysMs.length + 1 : 1;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.uploadOnce(path, fields, photo, onProgress, idempotencyKey, photoField);
      } catch (error) {
        if (!(error instanceof ApiError) || !error.retryable || attempt >= attempts) throw error;
        onRetry(attempt);
        await wait(this.retryDelaysMs[attempt - 1]);
      }
    }
  }

  uploadOnce(path, fields, photo, onProgress, idempotencyKey, photoField = "image") {
    const form = new FormData();
    // A field may repeat (an array: finger_image, finger_position) and may hold more photos (Blobs).
    for (const [name, value] of Object.entries(fields)) {
      for (const item of Array.isArray(value) ? value : [value]) {
        if (item instanceof Blob) form.append(name, item, photoName(item));
        else form.append(name, item);
      }
    }
    form.append(photoField, photo, photoName(photo));
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      request.open("POST", path);
      request.timeout = this.uploadTimeoutMs;
      for (const [name, value] of Object.entries(this.headers())) request.setRequestHeader(name, value);
      if (idempotencyKey) request.setRequestHeader("Idempotency-Key", idempotencyKey);
      request.setRequestHeader("Cache-Control", "no-store");
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      request.upload.onload = () => onProgress(1);
      request.onload = () => {
        try {
          resolve(parse(request.status, request.responseText));
        } catch (error) {
          reject(error);
        }
      };
      request.onerror = () => reject(new ApiError({ code: "network", message: "The connection failed." }));
      request.ontimeout = () => reject(new ApiError({ code: "timeout", message: "The upload timed out." }));
      request.send(form);
    });
  }
}

function photoName(photo) {
  const type = photo.type || "image/jpeg";
  return `capture.${type.includes("png") ? "png" : type.includes("webp") ? "webp" : "jpg"}`;
}
