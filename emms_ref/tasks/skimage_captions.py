"""Real photos from scikit-image with captions written by hand for this project.

scikit-image ships a few dozen sample images in ``skimage.data``. The
package is BSD-3 licensed, and the docstring of each ``skimage.data``
function names the photo's source and copyright status (public domain or CC0
for most of the photos used here). The captions below were written by the
authors of this repository after looking at each photo, four per photo,
in the style of COCO captions (one plain sentence, no proper names). They
are not part of scikit-image or of any published caption data set.

``skimage.data.cat()`` returns the same photo as ``chelsea()``, so only
``chelsea`` is listed. Images that need the optional ``pooch`` download
(``eagle``, ``lily``, ...) are left out because they do not install offline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SKIMAGE_CAPTIONS", "SkimagePhotos", "load_skimage_photos"]

#: ``skimage.data`` function name -> four captions written by hand for this project.
SKIMAGE_CAPTIONS: dict[str, tuple[str, ...]] = {
    "astronaut": (
        "a smiling astronaut in an orange flight suit poses in front of an american flag",
        "a woman in an orange space suit holds a white helmet",
        "an official portrait of an astronaut with a model of the space shuttle behind her",
        "a person in an orange pressure suit smiles at the camera",
    ),
    "camera": (
        "a man in a dark coat looks through a camera on a tripod",
        "a black and white photo of a photographer standing on a lawn",
        "a cameraman films something in a grassy field with buildings far behind",
        "a man bends over a film camera mounted on a tripod outdoors",
    ),
    "chelsea": (
        "a close up of a tabby cat with green eyes",
        "an orange striped cat looks at the camera",
        "the face of a brown cat with long white whiskers",
        "a tabby cat stares straight ahead in front of a blurry background",
    ),
    "clock": (
        "a blurry grey picture of a round wall clock",
        "a motion blurred clock on a plain grey wall",
        "a small round clock hard to see because the photo is out of focus",
        "a grey image with a fuzzy white disk in the middle",
    ),
    "coffee": (
        "a cup of coffee on a red saucer on a wooden table",
        "a red cup and saucer with a spoon seen from above",
        "a half full cup of espresso on a wooden surface",
        "a coffee cup with a metal spoon on a red plate",
    ),
    "coins": (
        "a black and white photo of old coins arranged in rows",
        "twenty four ancient coins lying on a dark background",
        "rows of small silver coins with faces on them",
        "a grid of worn coins on a black cloth",
    ),
    "hubble_deep_field": (
        "thousands of distant galaxies against the black of space",
        "a deep space telescope image full of small colourful galaxies",
        "many tiny stars and galaxies scattered on a black sky",
        "a view of the night sky with countless faint galaxies",
    ),
    "immunohistochemistry": (
        "a microscope image of tissue stained brown and blue",
        "stained cells under a microscope in brown and pale blue",
        "a slice of human tissue with brown stained glands",
        "a close up of a stained tissue sample on a white background",
    ),
    "moon": (
        "a grey close up of the surface of the moon with craters",
        "a black and white picture of lunar craters and plains",
        "the cratered grey surface of the moon seen from above",
        "a grainy image of the moon surface with a few small craters",
    ),
    "page": (
        "a photo of a printed page of text about image segmentation",
        "a page of a book with a heading and a few paragraphs",
        "black text on a white page with a line of code at the bottom",
        "a grey photo of a printed page with uneven lighting",
    ),
    "retina": (
        "a photo of the back of a human eye with red blood vessels",
        "an orange retina image with the optic disc on the left",
        "a round fundus photograph of the retina on a black background",
        "blood vessels spread across the red inner surface of an eye",
    ),
    "rocket": (
        "a rocket on a launch pad at dusk between tall towers",
        "a white rocket stands on the pad under a deep blue sky",
        "lights shine on a rocket waiting for launch in the evening",
        "a launch site with a rocket and four lightning towers",
    ),
    "brick": (
        "a grey brick wall seen at an angle",
        "a black and white photo of a brick pavement",
        "rows of long bricks in a regular pattern",
        "a close up of a wall made of grey bricks",
    ),
    "grass": (
        "a black and white close up of grass",
        "a lawn of short grass seen from above",
        "blades of grass filling the whole picture",
        "a grey texture of dense grass",
    ),
    "gravel": (
        "a black and white close up of gravel",
        "small stones covering the ground",
        "a texture of grey pebbles seen from above",
        "a gravel path filling the whole picture",
    ),
    "text": (
        "handwritten mathematical formulas on a sheet of paper",
        "a grey photo of equations written with a pen",
        "a close up of handwriting with fractions and symbols",
        "maths written by hand on a white page at an angle",
    ),
    "stereo_motorcycle": (
        "a red motorcycle parked in a garage",
        "a red and black motorbike stands in a workshop with shelves behind it",
        "a motorcycle on a concrete floor next to boxes and tools",
        "a parked red motorbike inside a cluttered garage",
    ),
}


@dataclass(frozen=True)
class SkimagePhotos:
    """The scikit-image photos with their hand-written captions.

    Attributes
    ----------
    names : list of str
        ``skimage.data`` function names, in ``SKIMAGE_CAPTIONS`` order.
    images : list of numpy.ndarray
        One (H, W, 3) uint8 RGB array per photo, at its original size.
        Grey-level photos are repeated over three channels, and an alpha
        channel is dropped.
    captions : list of list of str
        The hand-written captions of each photo.
    """

    names: list[str]
    images: list[np.ndarray]
    captions: list[list[str]]


def load_skimage_photos(names=None) -> SkimagePhotos:
    """Load scikit-image photos as RGB uint8 arrays together with their captions.

    Parameters
    ----------
    names : sequence of str, optional
        Keys of ``SKIMAGE_CAPTIONS``; all of them by default.

    Raises
    ------
    ValueError
        If a name has no captions in ``SKIMAGE_CAPTIONS``.
    """
    import skimage.data

    selected = list(SKIMAGE_CAPTIONS) if names is None else list(names)
    unknown = [name for name in selected if name not in SKIMAGE_CAPTIONS]
    if unknown:
        raise ValueError(f"names {unknown} have no captions; choose from {sorted(SKIMAGE_CAPTIONS)}")

    images = []
    for name in selected:
        image = getattr(skimage.data, name)()
        # stereo_motorcycle returns (left, right, disparity); the left view is used.
        if isinstance(image, tuple):
            image = image[0]
        images.append(_as_rgb_uint8(np.asarray(image)))
    return SkimagePhotos(names=selected, images=images, captions=[list(SKIMAGE_CAPTIONS[name]) for name in selected])


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    """Return an (H, W, 3) uint8 copy: grey repeated over channels, alpha dropped."""
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 photo, got dtype {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.array(image[:, :, :3])
