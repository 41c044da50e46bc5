// The camera: getUserMedia with a front/rear switch, and a full-resolution still.

const ACCEPTED = ["image/jpeg", "image/png", "image/webp"];

export class Camera {
  constructor(video) {
    this.video = video;
    this.stream = null;
    this.facing = "user";
    this.cameraCount = 0;
  }

  static available() {
    return Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  /** Start the camera facing `facing` ("user" = front, "environment" = rear); resolves once frames flow. */
  async start(facing = this.facing) {
    this.stop();
    this.facing = facing;
    // Ask for a large frame: the still is what the server templates, and phones give it only when asked.
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: facing }, width: { ideal: 1920 }, height: { ideal: 1440 } },
    });
    this.video.srcObject = this.stream;
    this.video.classList.toggle("mirrored", facing === "user");
    await this.video.play();
    if (!this.video.videoWidth) {
      await new Promise((resolve) => this.video.addEventListener("loadeddata", resolve, { once: true }));
    }
    try {
      const devices = await navigator.mediaDevices.enumerateDevices();
      this.cameraCount = devices.filter((d) => d.kind === "videoinput").length;
    } catch {
      this.cameraCount = 1;
    }
  }

  switch() {
    return this.start(this.facing === "user" ? "environment" : "user");
  }

  get track() {
    return this.stream ? this.stream.getVideoTracks()[0] : null;
  }

  /** The full-resolution still (ImageCapture.takePhoto where the browser has it), else the current video frame. */
  async takePhoto() {
    const track = this.track;
    if (track && "ImageCapture" in window) {
      try {
        const photo = await new ImageCapture(track).takePhoto();
        if (ACCEPTED.includes(photo.type) && photo.size > 0) return photo;
        return await reencode(await createImageBitmap(photo));
      } catch {
        // Some cameras refuse takePhoto (or stall the stream for it); the video frame will do.
      }
    }
    return this.frame();
  }

  /** The video frame now shown, as a JPEG at the camera's resolution (never mirrored). */
  frame() {
    const canvas = document.createElement("canvas");
    canvas.width = this.video.videoWidth;
    canvas.height = this.video.videoHeight;
    canvas.getContext("2d").drawImage(this.video, 0, 0);
    return toJpeg(canvas);
  }

  stop() {
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.video.srcObject = null;
  }
}

function toJpeg(canvas) {
  return new Promise((resolve, reject) =>
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error("The photo could not be encoded."))), "image/jpeg", 0.92),
  );
}

function reencode(bitmap) {
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0);
  return toJpeg(canvas);
}
