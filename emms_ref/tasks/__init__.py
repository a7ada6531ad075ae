"""Data of the per-task chapters: VQA, referring expressions, captioning and text QA.

Submodules, imported on demand so that this package stays light:

* :mod:`emms_ref.tasks.easy_vqa`: the synthetic easy-VQA data set with shape,
  colour and bounding box of every image;
* :mod:`emms_ref.tasks.boxes`: bounding boxes from background thresholding,
  IoU, and the text form of a box used for F-labels;
* :mod:`emms_ref.tasks.captions`: templated (synthetic) captions of easy-VQA
  and CIFAR-10 images, and corpus BLEU;
* :mod:`emms_ref.tasks.skimage_captions`: hand-written captions of the real
  scikit-image photos;
* :mod:`emms_ref.tasks.text_qa`: the synthetic text QA set built from the
  easy-VQA metadata;
* :mod:`emms_ref.tasks.vqa_published`: loader for the published VQA v2
  question and annotation files;
* :mod:`emms_ref.tasks.refcoco_published`: loader for the published RefCOCO
  files (``refs(unc).p`` and ``instances.json``);
* :mod:`emms_ref.tasks.coco_captions_published`: loader for COCO, Flickr8k and
  Flickr30k captions in the Karpathy-split format;
* :mod:`emms_ref.tasks.squad_published`: loader for SQuAD v1.1.
"""
