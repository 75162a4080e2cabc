"""On-device vision: the tflite runtime wrapper, face detection and MRZ reading from images."""
