"""The Block Storage API (Cinder v3) at ``/volume/v3``: control side, run by the API process.

It may import ``volume.service``, ``volume.types``, ``volume.client``, ``volume.models``, ``volume.states`` and
``volume.exceptions``, never the volume worker, its tasks or its backends; ``image.service`` for
``os-volume_upload_image``, and the compute control side's ``compute.client`` for an attached volume's extend.
"""
