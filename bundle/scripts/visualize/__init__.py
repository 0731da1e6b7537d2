"""What a person looks at: PNG figures (``figures``), surface meshes coloured by deviation (``meshes``), and the
offline 3D summary page (``views3d``, ``summary_page``)."""
