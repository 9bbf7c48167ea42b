// Camera QR scanning. The browser's BarcodeDetector reads the code where
// it exists (Android Chrome, Safari 17+); elsewhere (Firefox, desktop
// Linux Chromium) the vendored jsQR (vendor/jsqr/, checksum-pinned) decodes
// frames drawn into a canvas. jsQR is loaded as a classic script the first
// time it is needed and defines self.jsQR.

let jsqrPromise = null;

function loadJsQR() {
  if (self.jsQR) return Promise.resolve(self.jsQR);
  if (!jsqrPromise) {
    jsqrPromise = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = new URL('vendor/jsqr/jsQR.js', import.meta.url).href;
      s.onload = () => (self.jsQR ? resolve(self.jsQR) : reject(new Error('the QR decoder did not load')));
      s.onerror = () => { jsqrPromise = null; reject(new Error('the QR decoder could not be loaded')); };
      document.head.append(s);
    });
  }
  return jsqrPromise;
}

// detector returns a function that reads a QR code from the video (or
// resolves to "" when the frame holds none), and the name of the decoder.
async function detector(video, canvas) {
  if ('BarcodeDetector' in self) {
    try {
      const formats = await self.BarcodeDetector.getSupportedFormats();
      if (formats.includes('qr_code')) {
        const bd = new self.BarcodeDetector({ formats: ['qr_code'] });
        return [async () => {
          const codes = await bd.detect(video);
          return codes.length ? codes[0].rawValue : '';
        }, 'BarcodeDetector'];
      }
    } catch {
      // Fall through to jsQR.
    }
  }
  const jsQR = await loadJsQR();
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  return [async () => {
    const w = video.videoWidth;
    const h = video.videoHeight;
    if (!w || !h) return '';
    // Large frames are scaled down: jsQR's time grows with the pixels.
    const scale = Math.min(1, 800 / Math.max(w, h));
    canvas.width = Math.round(w * scale);
    canvas.height = Math.round(h * scale);
    ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
    const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const code = jsQR(img.data, img.width, img.height, { inversionAttempts: 'attemptBoth' });
    return code ? code.data : '';
  }, 'jsQR'];
}

// cameraError turns a getUserMedia error into a sentence for the person.
export function cameraError(e) {
  switch (e && e.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'The camera is blocked for this app. Allow the camera in the browser\u2019s site settings, or paste the link instead.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'This device has no camera the app can use. Paste the link shown under the code instead.';
    case 'NotReadableError':
      return 'The camera is in use by another app. Close it and try again.';
    default:
      return 'The camera could not be started. Paste the link shown under the code instead.';
  }
}

// scan starts the camera into video and resolves to the text of the first
// QR code accept(text) takes (it returns true); it stops the camera when it
// resolves, rejects, or signal aborts. onDecoder(name) tells which decoder
// runs.
export async function scan(video, { signal, accept = () => true, onDecoder = () => {} } = {}) {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw Object.assign(new Error('no camera API'), { name: 'NotFoundError' });
  }
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: { ideal: 'environment' } }, audio: false });
  const stop = () => {
    stream.getTracks().forEach((t) => t.stop());
    video.srcObject = null;
  };
  try {
    if (signal && signal.aborted) throw new DOMException('cancelled', 'AbortError');
    video.srcObject = stream;
    video.setAttribute('playsinline', '');
    video.muted = true;
    await video.play();
    const canvas = document.createElement('canvas');
    const [read, name] = await detector(video, canvas);
    onDecoder(name);
    for (;;) {
      if (signal && signal.aborted) throw new DOMException('cancelled', 'AbortError');
      const text = await read().catch(() => '');
      if (text && accept(text)) return text;
      await new Promise((r) => setTimeout(r, 150));
    }
  } finally {
    stop();
  }
}
